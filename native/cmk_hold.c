// cmk-hold: the process `cmk isolate` starts for a command before the command may run, so that
// the command's PID can be recorded with its CPUs and pinned before it runs.
//
//   cmk-hold <command> [<args>...]      with fd 3: the start pipe, fd 4: the report pipe
//
// It waits on fd 3 for the start message: one 'S', then "NAME=value\0" entries to add to the
// environment. EOF without it (isolate gave up, or died) ends it without running anything
// (status 125). Then it execs the command, searching PATH as execvp does (without running
// scripts that lack a "#!" line through sh: native/cmk_exec.c, which the agent fast path shares).
// If exec fails it writes the errno to fd 4 and exits 127; fd 4 is close-on-exec, so isolate
// reads EOF there once the command runs. A separate small program because isolate can start it
// with posix_spawn (vfork speed) where a held copy of isolate itself would need fork, copying a
// whole Node.js process.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmk_exec.h"

#define START_FD 3
#define REPORT_FD 4
#define START_MARK 'S'
#define ABANDONED 125
#define CANNOT_RUN 127

extern char **environ;

static int fail(int error) {
  ssize_t ignored = write(REPORT_FD, &error, sizeof error);
  (void)ignored;
  return CANNOT_RUN;
}

// The start message, NUL-terminated; NULL when there is none.
static char *read_message(size_t *length) {
  size_t capacity = 4096, used = 0;
  char *message = malloc(capacity + 1);
  while (message != NULL) {
    ssize_t got = read(START_FD, message + used, capacity - used);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;
    used += (size_t)got;
    if (used == capacity) {
      capacity *= 2;
      char *larger = realloc(message, capacity + 1);
      if (larger == NULL) free(message);
      message = larger;
    }
  }
  if (message == NULL || used == 0 || message[0] != START_MARK) {
    free(message);
    return NULL;
  }
  message[used] = '\0';
  *length = used;
  return message;
}

int main(int argc, char **argv) {
  fcntl(REPORT_FD, F_SETFD, FD_CLOEXEC);
  size_t length = 0;
  char *message = read_message(&length);
  close(START_FD);
  if (message == NULL) return ABANDONED;
  if (argc < 2) return fail(EINVAL);

  // The command gets standard input and output as they are, but blocking, as programs expect.
  for (int fd = 0; fd <= 2; fd++) {
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0 && (flags & O_NONBLOCK) != 0) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  }

  size_t inherited = 0;
  while (environ[inherited] != NULL) inherited++;
  size_t added = 0;
  for (size_t at = 1; at < length; at += strlen(message + at) + 1) added++;
  char **env = calloc(inherited + added + 1, sizeof *env);
  if (env == NULL) return fail(ENOMEM);
  memcpy(env, environ, inherited * sizeof *env);
  for (size_t at = 1, count = inherited; at < length; at += strlen(message + at) + 1) env[count++] = message + at;

  return fail(cmk_exec(argv[1], argv + 1, env));
}
