/* The test workload of the node tests: a static program (its image needs no libraries) that says
 * what a pinned container sees, then waits to be stopped. Why a program of its own rather than a
 * shell: the images are made from local files only, and a line of its own is easy to find in a
 * container's log. One line on standard output, then one more per SIGUSR1:
 *
 *   cmk-workload pid=<pid in the container> cpus=<Cpus_allowed_list> cpuset=<its cgroup's
 *   cpuset.cpus> CMK_CPUS_ASSIGNED=<...> CMK_NUM_CORES=<...> CMK_AGENT_SOCKET=<...>
 *
 * SIGTERM and SIGINT end it with status 0 (as the first process of a container it must handle
 * them itself). With an argument "exit", it prints the line and exits at once. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t report = 0, stop = 0;

static void on_usr1(int sig) { (void)sig; report = 1; }
static void on_term(int sig) { (void)sig; stop = 1; }

/* The value of "<key>:" in /proc/self/status, or of a one-line file. */
static void read_field(const char *path, const char *key, char *out, size_t size) {
  FILE *f = fopen(path, "r");
  char line[4096];
  snprintf(out, size, "-");
  if (f == NULL) return;
  while (fgets(line, sizeof line, f) != NULL) {
    const char *value = line;
    if (key != NULL) {
      size_t n = strlen(key);
      if (strncmp(line, key, n) != 0 || line[n] != ':') continue;
      value = line + n + 1;
    }
    while (*value == ' ' || *value == '\t') value++;
    snprintf(out, size, "%s", value);
    out[strcspn(out, "\n")] = '\0';
    if (out[0] == '\0') snprintf(out, size, "-");
    break;
  }
  fclose(f);
}

static const char *env(const char *name) {
  const char *v = getenv(name);
  return v == NULL || v[0] == '\0' ? "-" : v;
}

static void say(void) {
  char cpus[4096], cpuset[4096];
  read_field("/proc/self/status", "Cpus_allowed_list", cpus, sizeof cpus);
  read_field("/sys/fs/cgroup/cpuset/cpuset.cpus", NULL, cpuset, sizeof cpuset);
  if (strcmp(cpuset, "-") == 0) read_field("/sys/fs/cgroup/cpuset.cpus.effective", NULL, cpuset, sizeof cpuset);
  printf("cmk-workload pid=%d cpus=%s cpuset=%s CMK_CPUS_ASSIGNED=%s CMK_NUM_CORES=%s CMK_AGENT_SOCKET=%s\n", (int)getpid(), cpus,
         cpuset, env("CMK_CPUS_ASSIGNED"), env("CMK_NUM_CORES"), env("CMK_AGENT_SOCKET"));
  fflush(stdout);
}

int main(int argc, char **argv) {
  struct sigaction usr1 = {.sa_handler = on_usr1}, term = {.sa_handler = on_term};
  sigaction(SIGUSR1, &usr1, NULL);
  sigaction(SIGTERM, &term, NULL);
  sigaction(SIGINT, &term, NULL);
  say();
  if (argc > 1 && strcmp(argv[1], "exit") == 0) return 0;
  while (!stop) {
    pause();
    if (report) {
      report = 0;
      say();
    }
  }
  return 0;
}
