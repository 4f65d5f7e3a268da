/**
 * Every subject the system uses, built from one optional prefix. The public
 * ones are described in docs/PROTOCOL.md; `sched.*` subjects are internal to
 * the cluster.
 *
 * @module
 */

/** Subject names for one deployment (one prefix). */
export interface Subjects {
  readonly prefix: string;
  /** `tasks.submit.<type>` */
  submit(type: string): string;
  /** `tasks.submit.>` */
  readonly submitAll: string;
  /** `tasks.result.<id>` */
  result(id: string): string;
  readonly resultAll: string;
  /**
   * `tasks.outcome.<id>`: what the results stream stores. The stream
   * republishes each stored outcome on `tasks.result.<id>`, so subscribers
   * see only results the stream accepted: one per task.
   */
  outcome(id: string): string;
  readonly outcomeAll: string;
  /** `tasks.progress.<id>` */
  progress(id: string): string;
  readonly cancel: string;
  readonly status: string;
  /** `tasks.list`: held tasks by state and type, or dead letters; paged (viewer). */
  readonly list: string;
  /** `tasks.retry`: run a failed task again with a fresh attempt budget (admin). */
  readonly retry: string;
  /** `tasks.purge`: remove dead letters, one or all (admin). */
  readonly purge: string;
  monitorWorker(node: string): string;
  monitorTask(id: string): string;
  monitorScheduler(id: string): string;
  monitorSupervisor(node: string): string;
  /** `monitor.schedule.<name>`: each fire, skip, miss and run end of a schedule. */
  monitorSchedule(name: string): string;
  readonly monitorAll: string;
  /** `monitor.snapshot`: request/reply, the full picture for a late joiner. */
  readonly monitorSnapshot: string;
  /** `monitor.audit`: one message per refused request and per admin action (actors/audit.ts). */
  readonly monitorAudit: string;
  /** `monitor.alert`: alerts the monitor raises (failed tasks, lost nodes, leader changes, missed ticks). */
  readonly monitorAlert: string;
  /** Internal: everything the leader sends one worker node (assignments, cancels, acks, fences). */
  node(node: string): string;
  /** Internal: what worker nodes send the leader (reports, hellos, leaving). */
  readonly report: string;
  /** Internal: the leader's broadcast to every worker node (sync after a takeover). */
  readonly nodes: string;
  /** Stream names. */
  readonly tasksStream: string;
  readonly resultsStream: string;
  readonly deadLetterStream: string;
  readonly deadLetter: (id: string) => string;
  readonly leaseBucket: string;
  /** `schedules.<op>`: request/reply on schedules (put, delete, pause, resume, trigger, get, list). */
  schedules(op: string): string;
  /** `schedules.*` */
  readonly schedulesAll: string;
  /** KV bucket of schedules and their state. */
  readonly schedulesBucket: string;
  /** `auth.login`: request/reply, a user name and password for a token (any scheduler answers). */
  readonly authLogin: string;
  /** KV bucket of users: one entry per user with its password hash, roles and lockout state. */
  readonly usersBucket: string;
}

const TOKEN = /^[A-Za-z0-9_-]+$/;

/** Build the subject set for a prefix ("" or a dot-free token such as `prod`). */
export function subjects(prefix = ""): Subjects {
  if (prefix !== "" && !TOKEN.test(prefix)) {
    throw new Error(
      `subject prefix must be letters, digits, "_" or "-": got ${JSON.stringify(prefix)}`,
    );
  }
  const p = prefix ? `${prefix}.` : "";
  const name = prefix ? `${prefix.toUpperCase().replaceAll("-", "_")}_` : "";
  return {
    prefix,
    submit: (type) => `${p}tasks.submit.${type}`,
    submitAll: `${p}tasks.submit.>`,
    result: (id) => `${p}tasks.result.${id}`,
    resultAll: `${p}tasks.result.>`,
    outcome: (id) => `${p}tasks.outcome.${id}`,
    outcomeAll: `${p}tasks.outcome.>`,
    progress: (id) => `${p}tasks.progress.${id}`,
    cancel: `${p}tasks.cancel`,
    status: `${p}tasks.status`,
    list: `${p}tasks.list`,
    retry: `${p}tasks.retry`,
    purge: `${p}tasks.purge`,
    monitorWorker: (node) => `${p}monitor.worker.${node}`,
    monitorTask: (id) => `${p}monitor.task.${id}`,
    monitorScheduler: (id) => `${p}monitor.scheduler.${id}`,
    monitorSupervisor: (node) => `${p}monitor.supervisor.${node}`,
    monitorSchedule: (name) => `${p}monitor.schedule.${name}`,
    monitorAll: `${p}monitor.>`,
    monitorSnapshot: `${p}monitor.snapshot`,
    monitorAudit: `${p}monitor.audit`,
    monitorAlert: `${p}monitor.alert`,
    node: (node) => `${p}sched.node.${node}`,
    report: `${p}sched.report`,
    nodes: `${p}sched.nodes`,
    tasksStream: `${name}TASKS`,
    resultsStream: `${name}RESULTS`,
    deadLetterStream: `${name}DEAD_LETTER`,
    deadLetter: (id) => `${p}tasks.dead.${id}`,
    leaseBucket: `${name}sched_lease`,
    schedules: (op) => `${p}schedules.${op}`,
    schedulesAll: `${p}schedules.*`,
    schedulesBucket: `${name}sched_schedules`,
    authLogin: `${p}auth.login`,
    usersBucket: `${name}sched_users`,
  };
}

/** The last token of a subject: the task type of `tasks.submit.<type>`. */
export function lastToken(subject: string): string {
  const i = subject.lastIndexOf(".");
  return i < 0 ? subject : subject.slice(i + 1);
}
