// Which processes make up a task. A task is known by its id (the PID string in CMK's pool
// document); cmk records beside it the isolate process and the command it runs. The command's
// process carries the task's CPU mask; both keep the task alive; both are re-pinned when it moves.
import type { TaskRecord } from "./node-state.ts";

/** The process whose CPU mask is the task's: its command when recorded, else the task's own PID (a CMK task). */
export function workloadPid(taskId: string, record: TaskRecord | undefined): number {
  return record?.child?.pid ?? Number(taskId);
}

/** The processes at the root of a task's process tree: isolate and its command (a CMK task: its PID). */
export function taskRoots(taskId: string, record: TaskRecord | undefined): number[] {
  if (record === undefined) return [Number(taskId)];
  return record.child === undefined ? [record.isolate.pid] : [record.isolate.pid, record.child.pid];
}
