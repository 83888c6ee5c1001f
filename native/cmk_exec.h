// Running a command the way `cmk isolate` promises, shared by cmk-hold (the TypeScript path's
// held command) and the agent fast path, so both search PATH and fail alike.
#ifndef CMK_EXEC_H
#define CMK_EXEC_H

// Execs `file` with `args` and `env`, searching PATH (from this process's environment, else
// /usr/local/bin:/usr/bin:/bin) when `file` has no '/', as execvp does, except that a file
// without a "#!" line is never run through sh: that is ENOEXEC, as `cmk isolate` documents.
// Returns only when every attempt failed: the errno to report (EACCES from one directory wins
// over ENOENT from the others).
int cmk_exec(const char *file, char *const args[], char *const env[]);

#endif
