// The agent fast path of `cmk isolate`, linked into the installed launcher (cmk_launcher.c) and
// the source tree's dist/cmk-fast (cmk_fast.c). See cmk_fastpath.c and docs/agent-protocol.md.
#ifndef CMK_FASTPATH_H
#define CMK_FASTPATH_H

// For `cmk isolate [flags] -- <command> [<args>...]` (and CMK's `cmk isolate [flags] <command>
// [-- <args>...]`): asks the node's cmk agent (CMK_AGENT_SOCKET, default
// /var/lib/cmk/agent.sock) for CPU lists and then either
//   - execs the command in this process, pinned, with CMK_CPUS_* set and the agent's connection
//     inherited (never returns);
//   - ends the process with one `ERROR:cmk:<message>` line on stderr and an exit status (the
//     agent's refusal, an answer it cannot read, the kernel refusing the CPUs, a command that
//     cannot run);
//   - or returns, having changed nothing (environment, affinity, descriptors), when cmk's own
//     TypeScript path must run instead: another command, a flag or value it does not handle, no
//     agent to connect to, or the agent's `error 2`.
void cmk_fast_isolate(int argc, char **argv);

// Node.js variables meant for a workload, not for cmk's own runtime (NODE_OPTIONS; and
// NODE_EXTRA_CA_CERTS, which costs every TLS start-up a read of the whole file while cmk trusts
// its kubeconfig's own CA): before starting Node.js, the launchers move each to
// CMK_WORKLOAD_<name>; cmk gives them back to the commands it runs.
void cmk_set_aside_workload_variables(void);

#endif
