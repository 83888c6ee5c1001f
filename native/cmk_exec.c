// See cmk_exec.h.
#define _GNU_SOURCE
#include "cmk_exec.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cmk_exec(const char *file, char *const args[], char *const env[]) {
  if (strchr(file, '/') != NULL) {
    execve(file, args, env);
    return errno;
  }
  const char *path = getenv("PATH");
  if (path == NULL) path = "/usr/local/bin:/usr/bin:/bin";
  size_t file_length = strlen(file);
  char *candidate = malloc(strlen(path) + file_length + 2);
  if (candidate == NULL) return ENOMEM;
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
  free(candidate);
  return denied && error == ENOENT ? EACCES : error;
}
