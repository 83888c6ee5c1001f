// The installed `cmk`: starts the pinned Node.js runtime on cmk's bundle, both kept in a
// build-specific directory beside this file, so a container needs nothing but glibc. `cmk
// isolate` first tries the node's cmk agent without Node.js (cmk_fastpath.c): when the agent
// answers, the command runs in this process; otherwise Node.js starts as for any command.
//
// `cmk install` writes the directory's name and the oldest glibc its C++ runtime accepts into
// the two arrays below (found by their markers). The runtime is started through the dynamic
// loader with --library-path rather than LD_LIBRARY_PATH so that the bundled libstdc++ is seen
// by Node.js only, never by the programs `cmk isolate` runs.
#define _GNU_SOURCE
#include <errno.h>
#include <gnu/libc-version.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmk_fastpath.h"

#if !defined(__x86_64__)
#error "cmk ships the x86-64 Node.js runtime only"
#endif

#define DYNAMIC_LOADER "/lib64/ld-linux-x86-64.so.2"

// Not const and not static, so the compiler cannot fold the markers into the code.
char cmk_runtime_dir[128] = "@CMK_RUNTIME_DIR@";
char cmk_libs_glibc[16] = "@CMK_LIBS_GLIBC@";

// True when glibc version `have` ("2.35") is older than `need` ("2.36").
static int older(const char *have, const char *need) {
  unsigned long have_major = strtoul(have, NULL, 10), need_major = strtoul(need, NULL, 10);
  const char *have_dot = strchr(have, '.'), *need_dot = strchr(need, '.');
  unsigned long have_minor = have_dot ? strtoul(have_dot + 1, NULL, 10) : 0;
  unsigned long need_minor = need_dot ? strtoul(need_dot + 1, NULL, 10) : 0;
  return have_major < need_major || (have_major == need_major && have_minor < need_minor);
}

static int join(char *out, const char *dir, const char *name) {
  int length = snprintf(out, PATH_MAX, "%s/%s", dir, name);
  return length > 0 && length < PATH_MAX;
}

int main(int argc, char **argv) {
  if (cmk_runtime_dir[0] == '@') {
    fputs("cmk: this launcher is a template; install cmk with 'cmk install'\n", stderr);
    return 1;
  }
  // Returns only when the TypeScript path must run, with nothing changed.
  cmk_fast_isolate(argc, argv);

  char dir[PATH_MAX];
  ssize_t length = readlink("/proc/self/exe", dir, sizeof dir - 1);
  if (length < 0) {
    // Without /proc, fall back on the path this was started by.
    if (strchr(argv[0], '/') == NULL || strlen(argv[0]) >= sizeof dir) {
      fprintf(stderr, "cmk: cannot find this executable's directory: /proc/self/exe: %s; mount /proc or run cmk by its full path\n", strerror(errno));
      return 1;
    }
    strcpy(dir, argv[0]);
    length = (ssize_t)strlen(dir);
  }
  dir[length] = '\0';
  // A replaced binary reads as "<dir>/cmk (deleted)": the directory is still right.
  *strrchr(dir, '/') = '\0';

  char runtime_dir[PATH_MAX], node[PATH_MAX], script[PATH_MAX], libs[PATH_MAX];
  if (!join(runtime_dir, dir, cmk_runtime_dir) || !join(node, runtime_dir, "node") || !join(script, runtime_dir, "cmk.cjs") || !join(libs, runtime_dir, "lib")) {
    fprintf(stderr, "cmk: the path of %s is too long; install cmk into a shorter directory\n", dir);
    return 1;
  }

  // cmk agent runs as long as the node and does little per request: it gives up V8's compilers
  // and a large young generation for memory (README, "cmk agent"). bin/cmk passes the same flags.
  static const char *const agent_node_flags[] = {"--jitless", "--max-semi-space-size=1", "--v8-pool-size=1", "--optimize-for-size"};
  const size_t flag_count = sizeof agent_node_flags / sizeof agent_node_flags[0];
  const bool agent = argc > 1 && strcmp(argv[1], "agent") == 0;
  char **args = calloc((size_t)argc + 6 + flag_count, sizeof *args);
  if (args == NULL) {
    fputs("cmk: out of memory\n", stderr);
    return 1;
  }
  int count = 0;
  args[count++] = DYNAMIC_LOADER;
  // On an older glibc than the bundled C++ runtime needs, use the container's own.
  if (!older(gnu_get_libc_version(), cmk_libs_glibc)) {
    args[count++] = "--library-path";
    args[count++] = libs;
  }
  args[count++] = node;
  if (agent)
    for (size_t flag = 0; flag < flag_count; flag++) args[count++] = (char *)agent_node_flags[flag];
  args[count++] = script;
  for (int index = 1; index < argc; index++) args[count++] = argv[index];
  args[count] = NULL;
  cmk_set_aside_workload_variables();
  execv(DYNAMIC_LOADER, args);
  fprintf(stderr, "cmk: cannot start %s: %s: %s; reinstall cmk with 'cmk install'\n", node, DYNAMIC_LOADER, strerror(errno));
  return 1;
}
