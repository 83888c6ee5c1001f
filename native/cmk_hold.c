// cmk-hold: the process `cmk isolate` starts for a command before the command may run, so that
// the command's PID can be recorded with its CPUs and pinned before it runs.
//
//   cmk-hold <command> [<args>...]      with fd 3: the start pipe, fd 4: the report pipe
//
// It waits on fd 3 for the start message: one 'S', then "NAME=value\0" entries to add to the
// environment. EOF without it (isolate gave up, or died) ends it without running anything
// (status 125). Then it execs the command, searching PATH as execvp does (without running
// scripts that lack a "#!" line through sh). If exec fails it writes the errno to fd 4 and exits
// 127; fd 4 is close-on-exec, so isolate reads EOF there once the command runs. A separate small
// program because isolate can start it with posix_spawn (vfork speed) where a held copy of
// isolate itself would need fork, copying a whole Node.js process.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

  const char *file = argv[1];
  char **args = argv + 1;
  if (strchr(file, '/') != NULL) {
    execve(file, args, env);
    return fail(errno);
  }
  const char *path = getenv("PATH");
  if (path == NULL) path = "/usr/local/bin:/usr/bin:/bin";
  size_t file_length = strlen(file);
  char *candidate = malloc(strlen(path) + file_length + 2);
  if (candidate == NULL) return fail(ENOMEM);
  // EACCES from one directory wins over ENOENT from the others; other errors stop the search.
  int error = ENOENT, denied = 0;
  for (const char *dir = path;;) {
    const char *end = strchrnul(dir, ':');
    size_t dir_length = (size_t)(end - dir);
    if (dir_length > 0) {
      memcpy(candidate, dir, dir_length);
      candidate[dir_length++] = '/';
    }
    memcpy(candidate + dir_length, file, file_length + 1);
    execve(candidate, args, env);
    if (errno == EACCES) {
      denied = 1;
    } else if (errno != ENOENT && errno != ENOTDIR) {
      error = errno;
      break;
    }
    if (*end == '\0') break;
    dir = end + 1;
  }
  return fail(denied && error == ENOENT ? EACCES : error);
}
