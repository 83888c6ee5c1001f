// The agent fast path of `cmk isolate` (interface in cmk_fastpath.h, protocol in
// docs/agent-protocol.md).
//
// Why C, and why in place: `cmk isolate` is on the launch path of every pinned workload, and a
// Node.js start costs tens of milliseconds before any work is done. When the node's `cmk agent`
// owns the CPU state, isolate has nothing left to compute: this code connects to the agent, sends
// one request line, pins this process to the CPUs of the answer, sets CMK_CPUS_* and execs the
// command in this very process, which inherits the connection. The connection is the lease: when
// the command and every process that inherited it have exited, the kernel closes it and the agent
// frees the lists. No wrapper stays behind, so the command's exit status and signals are its own.
//
// What it is not sure of it leaves to the TypeScript path, by returning with nothing changed: any
// flag but --pool, --socket-id, --no-affinity and --conf-dir, a value the TypeScript parser would
// refuse or read differently, a malformed setting, no agent to connect to, and the agent's
// `error 2` (a request it does not take; the TypeScript path then does the job, or says what is
// wrong in its own words). Once the request is sent the agent may have allocated, so every later
// failure ends this process, and the lease with it, instead of falling back: a fallback would
// allocate a second time.
#define _GNU_SOURCE
#include "cmk_fastpath.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cmk_exec.h"

#define DEFAULT_SOCKET "/var/lib/cmk/agent.sock"
#define DEFAULT_TIMEOUT_SECONDS 30.0
// The protocol's bound on a request line, newline included.
#define MAX_REQUEST 4096
// More than any allocation's answer: a few CPU lists of at most 8192 CPUs.
#define MAX_REPLY 65536
// cmk's largest CPU id is 65535 (src/core/cpuset.ts); the kernel's, 8191.
#define MAX_CPUS 65536
#define MAX_VARIABLES 32
// Exit statuses as cmk isolate documents them (README, "Exit codes").
#define EXIT_FAILURE_STATUS 1
#define EXIT_AFFINITY 6
#define EXIT_CANNOT_EXECUTE 126
#define EXIT_NOT_FOUND 127

extern char **environ;

// ---- Logging as cmk does: LEVEL:cmk:message, one line, filtered by CMK_LOG_LEVEL -------------

enum level { LEVEL_DEBUG, LEVEL_INFO, LEVEL_WARNING, LEVEL_ERROR, LEVEL_CRITICAL };
static const char *const level_names[] = {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"};
static int log_level = LEVEL_INFO;

// One write(2) per line, so that lines of concurrent processes never interleave.
static void log_line(int level, const char *format, ...) {
  if (level < log_level) return;
  char *message = NULL;
  va_list args;
  va_start(args, format);
  int length = vasprintf(&message, format, args);
  va_end(args);
  if (length < 0) return;
  char *line = NULL;
  int line_length = asprintf(&line, "%s:cmk:%s\n", level_names[level], message);
  if (line_length > 0) {
    ssize_t ignored = write(STDERR_FILENO, line, (size_t)line_length);
    (void)ignored;
  }
  free(line);
  free(message);
}

#define FAIL(status, ...)                \
  do {                                   \
    log_line(LEVEL_ERROR, __VA_ARGS__);  \
    _exit(status);                       \
  } while (0)

// ---- Values as cmk's TypeScript parser reads them (src/app/input.ts) ------------------------

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }

// `text` without leading and trailing ASCII white space, as start and length.
static const char *trimmed(const char *text, size_t *length) {
  while (is_space(*text)) text++;
  size_t end = strlen(text);
  while (end > 0 && is_space(text[end - 1])) end--;
  *length = end;
  return text;
}

// A whole number written in decimal digits only, at most `maximum`: 1 and *out, or 0.
static int whole_number(const char *text, unsigned long long minimum, unsigned long long maximum, unsigned long long *out) {
  size_t length;
  const char *digits = trimmed(text, &length);
  if (length == 0) return 0;
  unsigned long long value = 0;
  for (size_t i = 0; i < length; i++) {
    if (digits[i] < '0' || digits[i] > '9') return 0;
    value = value * 10 + (unsigned long long)(digits[i] - '0');
    if (value > maximum) return 0;
  }
  if (value < minimum) return 0;
  *out = value;
  return 1;
}

// Seconds as secondsValue reads them ("30", "0.5", ".5"): 1 and *out, or 0.
static int seconds_value(const char *text, double *out) {
  size_t length;
  const char *start = trimmed(text, &length);
  size_t at = 0, before = 0, after = 0;
  while (at < length && start[at] >= '0' && start[at] <= '9') at++, before++;
  if (at < length && start[at] == '.') {
    at++;
    while (at < length && start[at] >= '0' && start[at] <= '9') at++, after++;
    if (after == 0) return 0;
  }
  if (at != length || before + after == 0) return 0;
  char copy[64];
  if (length >= sizeof copy) return 0;
  memcpy(copy, start, length);
  copy[length] = '\0';
  *out = strtod(copy, NULL);
  // secondsValue's maxSeconds (app/input.ts): a longer wait is refused there, in its words.
  return *out <= 2000000;
}

// CMK_LOG_LEVEL as levelFromEnv reads it; -1 when it would refuse it.
static int level_value(const char *text) {
  if (text == NULL || text[0] == '\0') return LEVEL_INFO;
  size_t length;
  const char *start = trimmed(text, &length);
  char upper[16];
  if (length >= sizeof upper) return -1;
  for (size_t i = 0; i < length; i++) upper[i] = (start[i] >= 'a' && start[i] <= 'z') ? (char)(start[i] - 'a' + 'A') : start[i];
  upper[length] = '\0';
  if (strcmp(upper, "WARN") == 0) return LEVEL_WARNING;
  if (strcmp(upper, "FATAL") == 0) return LEVEL_CRITICAL;
  for (int level = LEVEL_DEBUG; level <= LEVEL_CRITICAL; level++) {
    if (strcmp(upper, level_names[level]) == 0) return level;
  }
  return -1;
}

// ---- The request ---------------------------------------------------------------------------

struct request {
  const char *pool;
  long long socket_id;  // -1: any
  unsigned long long count;
  int affinity;
  const char *conf_dir;  // NULL unless --conf-dir was given
  char **program;        // NULL-terminated
  double timeout_seconds;  // for the answer: CMK_LOCK_TIMEOUT and a second
  const char *socket_path;
};

static const char *const pool_names[] = {"exclusive", "shared", "infra", "exclusive-non-isolcpus"};

static int is_pool(const char *text) {
  for (size_t i = 0; i < sizeof pool_names / sizeof pool_names[0]; i++) {
    if (strcmp(text, pool_names[i]) == 0) return 1;
  }
  return 0;
}

// Reads argv[2...] exactly as src/cli/args.ts does for isolate: flags as --flag=value or
// --flag value, the program from the first token that is no flag (CMK's form, whose arguments
// follow a later --) or after --. NULL on success, else why the TypeScript path must run.
static const char *parse_arguments(int argc, char **argv, struct request *request) {
  const char *pool = NULL, *socket_id = NULL, *conf_dir = NULL;
  int no_affinity = 0;
  size_t programs = 0;
  // main.ts shows help for --help or -h anywhere before the program (the first token that is
  // -- or no flag), even as another flag's value.
  for (int index = 2; index < argc && strcmp(argv[index], "--") != 0 && argv[index][0] == '-'; index++) {
    if (strcmp(argv[index], "--help") == 0 || strcmp(argv[index], "-h") == 0) return "--help";
  }
  request->program = calloc((size_t)argc + 1, sizeof(char *));
  if (request->program == NULL) return "out of memory";
  int index = 2;
  while (index < argc) {
    const char *token = argv[index++];
    if (strcmp(token, "--") == 0) {
      while (index < argc) request->program[programs++] = argv[index++];
      break;
    }
    if (token[0] != '-' || strcmp(token, "-") == 0) {
      if (programs > 0) return "a second argument before --";
      request->program[programs++] = (char *)token;
      continue;
    }
    if (strncmp(token, "--", 2) != 0) return "a flag it does not handle";
    const char *name = token + 2;
    const char *equals = strchr(name, '=');
    size_t name_length = equals != NULL ? (size_t)(equals - name) : strlen(name);
    const char **slot = NULL;
    if (name_length == 11 && strncmp(name, "no-affinity", 11) == 0) {
      if (no_affinity || equals != NULL) return "a malformed --no-affinity";
      no_affinity = 1;
      continue;
    } else if (name_length == 4 && strncmp(name, "pool", 4) == 0) {
      slot = &pool;
    } else if (name_length == 9 && strncmp(name, "socket-id", 9) == 0) {
      slot = &socket_id;
    } else if (name_length == 8 && strncmp(name, "conf-dir", 8) == 0) {
      slot = &conf_dir;
    } else {
      return "a flag it does not handle";
    }
    if (*slot != NULL) return "a flag given twice";
    if (equals != NULL) {
      *slot = equals + 1;
    } else {
      if (index >= argc) return "a flag without its value";
      *slot = argv[index++];
    }
  }
  if (programs == 0) return "no command";
  if (pool == NULL || !is_pool(pool)) return "no pool, or not a pool";
  request->pool = pool;
  request->socket_id = -1;
  if (socket_id != NULL) {
    size_t length;
    const char *text = trimmed(socket_id, &length);
    unsigned long long value;
    if (length == 2 && strncmp(text, "-1", 2) == 0) {
      request->socket_id = -1;
    } else if (whole_number(socket_id, 0, 1u << 20, &value)) {
      request->socket_id = (long long)value;
    } else {
      return "a --socket-id it does not handle";
    }
  }
  if (conf_dir != NULL) {
    size_t length;
    trimmed(conf_dir, &length);
    if (length == 0) return "an empty --conf-dir";
  }
  request->conf_dir = conf_dir;
  request->affinity = !no_affinity;
  return NULL;
}

// The settings isolate reads from the environment; NULL on success, else why not.
static const char *read_settings(struct request *request) {
  const char *count = getenv("CMK_NUM_CORES");
  request->count = 1;
  if (count != NULL && count[0] != '\0' && !whole_number(count, 1, 8192, &request->count)) return "a malformed CMK_NUM_CORES";
  const char *timeout = getenv("CMK_LOCK_TIMEOUT");
  request->timeout_seconds = DEFAULT_TIMEOUT_SECONDS;
  if (timeout != NULL && timeout[0] != '\0' && !seconds_value(timeout, &request->timeout_seconds)) return "a malformed CMK_LOCK_TIMEOUT";
  // The agent bounds its own wait for the state's lock by its CMK_LOCK_TIMEOUT and then answers
  // (exit 4, naming the holder); a second more lets that answer arrive before this side gives up.
  request->timeout_seconds += 1;
  const char *socket_path = getenv("CMK_AGENT_SOCKET");
  request->socket_path = socket_path != NULL && socket_path[0] != '\0' ? socket_path : DEFAULT_SOCKET;
  return NULL;
}

// A line being built within the protocol's bound; `overflow` once it does not fit.
struct line {
  char text[MAX_REQUEST + 1];
  size_t length;
  int overflow;
};

static void append(struct line *line, const char *text, size_t length) {
  if (line->overflow || line->length + length > MAX_REQUEST) {
    line->overflow = 1;
    return;
  }
  memcpy(line->text + line->length, text, length);
  line->length += length;
  line->text[line->length] = '\0';
}

static void appendf(struct line *line, const char *format, ...) {
  char buffer[128];
  va_list args;
  va_start(args, format);
  int length = vsnprintf(buffer, sizeof buffer, format, args);
  va_end(args);
  if (length < 0 || (size_t)length >= sizeof buffer) line->overflow = 1;
  else append(line, buffer, (size_t)length);
}

// A value as the protocol writes it: bytes outside '!'..'~', and '%', as %XX.
static void append_encoded(struct line *line, const char *value) {
  static const char hex[] = "0123456789ABCDEF";
  for (const unsigned char *at = (const unsigned char *)value; *at != '\0'; at++) {
    if (*at >= '!' && *at <= '~' && *at != '%') {
      append(line, (const char *)at, 1);
    } else {
      char escaped[3] = {'%', hex[*at >> 4], hex[*at & 15]};
      append(line, escaped, 3);
    }
  }
}

// The conf dir as the agent knows its store: resolved through symlinks when it exists, else
// absolute with "." and ".." taken away. NULL when it cannot be made absolute.
static char *store_path(const char *conf_dir) {
  char *resolved = realpath(conf_dir, NULL);
  if (resolved != NULL) return resolved;
  char *joined = NULL;
  if (conf_dir[0] == '/') {
    joined = strdup(conf_dir);
  } else {
    char *cwd = getcwd(NULL, 0);
    if (cwd == NULL || asprintf(&joined, "%s/%s", cwd, conf_dir) < 0) joined = NULL;
    free(cwd);
  }
  if (joined == NULL) return NULL;
  // Lexically: each component copied unless empty or ".", ".." dropping the last one copied.
  char *out = joined;  // Written behind the reading position, in place.
  size_t out_length = 0;
  for (char *part = joined; *part != '\0';) {
    char *end = strchrnul(part, '/');
    size_t length = (size_t)(end - part);
    if (length == 2 && part[0] == '.' && part[1] == '.') {
      while (out_length > 0 && out[out_length - 1] != '/') out_length--;
      if (out_length > 0) out_length--;
    } else if (length > 0 && !(length == 1 && part[0] == '.')) {
      out[out_length++] = '/';
      memmove(out + out_length, part, length);
      out_length += length;
    }
    part = *end == '\0' ? end : end + 1;
  }
  if (out_length == 0) out[out_length++] = '/';
  out[out_length] = '\0';
  return out;
}

// ---- CPU sets: the kernel's bitmap and cmk's cpulist text ----------------------------------

#define WORD_BITS (8 * sizeof(unsigned long))
struct cpus {
  unsigned long bits[MAX_CPUS / WORD_BITS];
};

static int has_cpu(const struct cpus *set, unsigned cpu) { return (set->bits[cpu / WORD_BITS] >> (cpu % WORD_BITS)) & 1; }

static void add_cpu(struct cpus *set, unsigned cpu) { set->bits[cpu / WORD_BITS] |= 1UL << (cpu % WORD_BITS); }

// "0-3,8,10" as the agent writes CMK_CPUS_ASSIGNED: 1 and a non-empty *set, or 0.
static int parse_cpus(const char *text, struct cpus *set) {
  memset(set, 0, sizeof *set);
  int any = 0;
  const char *at = text;
  for (;;) {
    char *end;
    if (*at < '0' || *at > '9') return 0;
    unsigned long first = strtoul(at, &end, 10), last = first;
    at = end;
    if (*at == '-') {
      at++;
      if (*at < '0' || *at > '9') return 0;
      last = strtoul(at, &end, 10);
      at = end;
    }
    if (first > last || last >= MAX_CPUS) return 0;
    for (unsigned long cpu = first; cpu <= last; cpu++) add_cpu(set, (unsigned)cpu);
    any = 1;
    if (*at == '\0') return any;
    if (*at != ',') return 0;
    at++;
  }
}

// Canonical cpulist text ("0-3,8"), as CpuSet.toString writes it; "" for none. Freed by the caller.
static char *format_cpus(const struct cpus *set) {
  size_t capacity = 64, length = 0;
  char *text = malloc(capacity);
  if (text == NULL) return NULL;
  text[0] = '\0';
  for (unsigned cpu = 0; cpu < MAX_CPUS; cpu++) {
    if (!has_cpu(set, cpu)) continue;
    unsigned last = cpu;
    while (last + 1 < MAX_CPUS && has_cpu(set, last + 1)) last++;
    char item[32];
    int item_length = last == cpu ? snprintf(item, sizeof item, "%s%u", length ? "," : "", cpu)
                                  : snprintf(item, sizeof item, "%s%u-%u", length ? "," : "", cpu, last);
    if (length + (size_t)item_length + 1 > capacity) {
      capacity = (length + (size_t)item_length + 1) * 2;
      char *larger = realloc(text, capacity);
      if (larger == NULL) {
        free(text);
        return NULL;
      }
      text = larger;
    }
    memcpy(text + length, item, (size_t)item_length + 1);
    length += (size_t)item_length;
    cpu = last;
  }
  return text;
}

// ---- Messages in the TypeScript path's words ----------------------------------------------

// The errno names src/adapters/native.ts knows, and ECONNREFUSED for a socket nobody listens on;
// others read "errno N", as there.
#define NAMED(number) {number, #number}
static const char *errno_name(int error, char *buffer, size_t size) {
  static const struct {
    int number;
    const char *name;
  } names[] = {
      NAMED(EPERM),  NAMED(ENOENT), NAMED(ESRCH),   NAMED(EINTR),        NAMED(EIO),    NAMED(E2BIG),     NAMED(ENOEXEC),  NAMED(EBADF),
      NAMED(ECHILD), NAMED(EAGAIN), NAMED(ENOMEM),  NAMED(EACCES),       NAMED(EFAULT), NAMED(EBUSY),     NAMED(ENOTDIR),  NAMED(EISDIR),
      NAMED(EINVAL), NAMED(ENFILE), NAMED(EMFILE),  NAMED(ETXTBSY),      NAMED(ENOSPC), NAMED(EROFS),     NAMED(ENAMETOOLONG), NAMED(ENOSYS),
      NAMED(ELOOP),  NAMED(ENOTSOCK), NAMED(ENOTCONN), NAMED(ETIMEDOUT), NAMED(ECONNREFUSED),
  };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (names[i].number == error) return names[i].name;
  }
  snprintf(buffer, size, "errno %d", error);
  return buffer;
}

// What an exec failure means to someone who typed the command (src/commands/isolate.ts).
static const char *exec_error_words(int error, char *buffer, size_t size) {
  switch (error) {
    case ENOENT:
      return "command not found";
    case EACCES:
      return "permission denied";
    case ENOEXEC:
      return "not an executable format (a script needs a #! line)";
    case E2BIG:
      return "its arguments and environment are too large";
    case ETXTBSY:
      return "the file is being written";
    default:
      return errno_name(error, buffer, size);
  }
}

// " (cgroup cpuset /x allows CPUs 0-3)", or "" when it cannot be read: as cpusetNote in
// src/adapters/affinity.ts. Freed by the caller.
static char *cpuset_note(void) {
  FILE *cgroups = fopen("/proc/self/cgroup", "re");
  char *note = NULL;
  if (cgroups != NULL) {
    char *line = NULL;
    size_t size = 0;
    while (note == NULL && getline(&line, &size, cgroups) > 0) {
      line[strcspn(line, "\n")] = '\0';
      char *controllers = strchr(line, ':');
      if (controllers == NULL) continue;
      controllers++;
      char *path = strchr(controllers, ':');
      if (path == NULL) continue;
      *path++ = '\0';
      path[strcspn(path, ":")] = '\0';
      char candidates[2][PATH_MAX];
      int count = 0;
      if (controllers[0] == '\0') {
        snprintf(candidates[count++], PATH_MAX, "/sys/fs/cgroup%s/cpuset.cpus.effective", path);
      } else {
        int has_cpuset = 0;
        for (char *name = controllers; *name != '\0';) {
          size_t length = strcspn(name, ",");
          if (length == 6 && strncmp(name, "cpuset", 6) == 0) has_cpuset = 1;
          name += length + (name[length] == ',');
        }
        if (has_cpuset) {
          snprintf(candidates[count++], PATH_MAX, "/sys/fs/cgroup/cpuset%s/cpuset.effective_cpus", path);
          snprintf(candidates[count++], PATH_MAX, "/sys/fs/cgroup/cpuset%s/cpuset.cpus", path);
        }
      }
      for (int i = 0; i < count && note == NULL; i++) {
        FILE *file = fopen(candidates[i], "re");
        if (file == NULL) continue;
        char cpus[4096] = "";
        size_t got = fread(cpus, 1, sizeof cpus - 1, file);
        fclose(file);
        cpus[got] = '\0';
        size_t length;
        const char *text = trimmed(cpus, &length);
        if (asprintf(&note, " (cgroup cpuset %s allows CPUs %.*s)", path, (int)(length ? length : 4), length ? text : "none") < 0) note = NULL;
      }
    }
    free(line);
    fclose(cgroups);
  }
  return note != NULL ? note : strdup("");
}

// Pins this process (its only thread) to exactly `wanted`, or ends it with exit 6 in the words
// of src/adapters/affinity.ts.
static void pin(const struct cpus *wanted) {
  char *text = format_cpus(wanted);
  pid_t self = getpid();
  if (sched_setaffinity(0, sizeof wanted->bits, (const cpu_set_t *)wanted->bits) != 0) {
    char buffer[32];
    const char *name = errno_name(errno, buffer, sizeof buffer);
    FAIL(EXIT_AFFINITY, "the kernel refused CPU affinity %s for thread %d (%s)%s; make those CPUs available to this container or choose another pool", text,
         (int)self, name, cpuset_note());
  }
  struct cpus applied;
  memset(&applied, 0, sizeof applied);
  if (sched_getaffinity(0, sizeof applied.bits, (cpu_set_t *)applied.bits) != 0) {
    char buffer[32];
    FAIL(EXIT_FAILURE_STATUS, "cannot read the CPU affinity of thread %d: %s", (int)self, errno_name(errno, buffer, sizeof buffer));
  }
  if (memcmp(&applied, wanted, sizeof applied) != 0) {
    struct cpus missing;
    for (size_t i = 0; i < MAX_CPUS / WORD_BITS; i++) missing.bits[i] = wanted->bits[i] & ~applied.bits[i];
    FAIL(EXIT_AFFINITY, "the kernel narrowed CPU affinity %s to %s: CPUs %s are not available here%s; make them available to this container or choose another pool",
         text, format_cpus(&applied), format_cpus(&missing), cpuset_note());
  }
  free(text);
}

// ---- Talking to the agent ------------------------------------------------------------------

static double monotonic_seconds(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

// A connected socket to the agent, numbered 3 or above (the command must not get it as its
// standard input or output), close-on-exec until the command is about to run; -1 and errno.
static int connect_agent(const char *path, double timeout_seconds) {
  struct sockaddr_un address;
  memset(&address, 0, sizeof address);
  address.sun_family = AF_UNIX;
  if (strlen(path) >= sizeof address.sun_path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  strcpy(address.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (fd <= STDERR_FILENO) {
    int moved = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
    int saved = errno;
    close(fd);
    if (moved < 0) {
      errno = saved;
      return -1;
    }
    fd = moved;
  }
  // A connect to a listener whose backlog is full waits; bound it as the answer is bounded.
  struct timeval bound = {.tv_sec = (time_t)timeout_seconds, .tv_usec = (suseconds_t)((timeout_seconds - (double)(time_t)timeout_seconds) * 1e6)};
  if (bound.tv_sec == 0 && bound.tv_usec == 0) bound.tv_usec = 1000;
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &bound, sizeof bound);
  if (connect(fd, (struct sockaddr *)&address, sizeof address) != 0) {
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
  }
  return fd;
}

// Sends the whole line: 1, or 0 (the agent cannot have read a whole request).
static int send_line(int fd, const struct line *line) {
  size_t sent = 0;
  while (sent < line->length) {
    ssize_t rc = send(fd, line->text + sent, line->length - sent, MSG_NOSIGNAL);
    if (rc < 0 && errno == EINTR) continue;
    if (rc <= 0) return 0;
    sent += (size_t)rc;
  }
  return 1;
}

// A line of the agent's answer as a complaint shows it: cut short, control characters as '?'.
static char *shown(const char *text, size_t length) {
  size_t end = 0;
  while (end < length && end < 120 && text[end] != '\n' && text[end] != '\0') end++;
  char *out = malloc(end + 4);
  if (out == NULL) return strdup("");
  for (size_t i = 0; i < end; i++) out[i] = (unsigned char)text[i] < ' ' || text[i] == 127 ? '?' : text[i];
  strcpy(out + end, end < length && text[end] != '\n' && text[end] != '\0' ? "..." : "");
  return out;
}

// An answer (or a line of it) this cmk cannot read: exit 1, the lease ending with this process.
__attribute__((noreturn)) static void unreadable(const char *path, const char *text, size_t length) {
  FAIL(EXIT_FAILURE_STATUS, "the cmk agent at %s answered \"%s\", which this cmk cannot read; check that the agent and this cmk are the same version", path,
       shown(text, length));
}

// Reads the answer up to its empty line, within the timeout; ends the process when none comes.
// Returns the reply, NUL-terminated after the empty line, with its length.
static char *read_reply(int fd, const struct request *request, size_t *reply_length) {
  char *reply = malloc(MAX_REPLY + 1);
  if (reply == NULL) FAIL(EXIT_FAILURE_STATUS, "out of memory reading the cmk agent's answer");
  size_t length = 0;
  double deadline = monotonic_seconds() + request->timeout_seconds;
  for (;;) {
    // The answer ends at its first empty line: "\n\n", or a first line that is empty.
    char *end = length > 0 && reply[0] == '\n' ? reply : memmem(reply, length, "\n\n", 2);
    if (end != NULL) {
      size_t used = (size_t)(end - reply) + (end == reply ? 1 : 2);
      reply[used] = '\0';
      *reply_length = used;
      return reply;
    }
    if (length == MAX_REPLY) unreadable(request->socket_path, reply, length);
    double left = deadline - monotonic_seconds();
    if (left <= 0) {
      FAIL(EXIT_FAILURE_STATUS, "the cmk agent at %s did not answer within %g s (CMK_LOCK_TIMEOUT and a second); check that it runs and what its log says",
           request->socket_path, request->timeout_seconds);
    }
    struct pollfd wait = {.fd = fd, .events = POLLIN};
    int ready = poll(&wait, 1, left > INT_MAX / 1000 ? INT_MAX : (int)(left * 1000) + 1);
    if (ready < 0 && errno != EINTR) {
      char buffer[32];
      FAIL(EXIT_FAILURE_STATUS, "cannot wait for the cmk agent's answer at %s: %s", request->socket_path, errno_name(errno, buffer, sizeof buffer));
    }
    if (ready <= 0) continue;
    ssize_t got = read(fd, reply + length, MAX_REPLY - length);
    if (got < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (got < 0) {
      char buffer[32];
      FAIL(EXIT_FAILURE_STATUS, "cannot read the cmk agent's answer at %s: %s", request->socket_path, errno_name(errno, buffer, sizeof buffer));
    }
    if (got == 0) {
      if (length == 0) FAIL(EXIT_FAILURE_STATUS, "the cmk agent at %s closed the connection without answering; check what its log says", request->socket_path);
      unreadable(request->socket_path, reply, length);
    }
    length += (size_t)got;
  }
}

static int is_name_character(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; }

static const char *const cpu_variables[] = {"CMK_CPUS_ASSIGNED", "CMK_CPUS_ASSIGNED_MASK", "CMK_CPUS_SHARED", "CMK_CPUS_INFRA"};

// ---- The fast path -------------------------------------------------------------------------

/** The variables cmk_set_aside_workload_variables moves, and the prefix it moves them under. */
static const char *const workload_variables[] = {"NODE_OPTIONS", "NODE_EXTRA_CA_CERTS"};
#define WORKLOAD_PREFIX "CMK_WORKLOAD_"

void cmk_set_aside_workload_variables(void) {
  for (size_t i = 0; i < sizeof workload_variables / sizeof workload_variables[0]; i++) {
    const char *value = getenv(workload_variables[i]);
    if (value == NULL) continue;
    char saved[64];
    snprintf(saved, sizeof saved, WORKLOAD_PREFIX "%s", workload_variables[i]);
    setenv(saved, value, 1);
    unsetenv(workload_variables[i]);
  }
}

/**
 * Here Node.js never started, so each variable is still the workload's when set, else what a
 * launcher set aside (a cmk started by a launcher that then took the fast path itself).
 */
static void give_back_workload_variables(void) {
  for (size_t i = 0; i < sizeof workload_variables / sizeof workload_variables[0]; i++) {
    char saved[64];
    snprintf(saved, sizeof saved, WORKLOAD_PREFIX "%s", workload_variables[i]);
    const char *value = getenv(saved);
    if (value != NULL && getenv(workload_variables[i]) == NULL) setenv(workload_variables[i], value, 1);
    unsetenv(saved);
  }
}

void cmk_fast_isolate(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "isolate") != 0) return;
  int level = level_value(getenv("CMK_LOG_LEVEL"));
  if (level < 0) return;  // The TypeScript path says what is wrong with it.
  log_level = level;
  double started = monotonic_seconds();

  struct request request;
  memset(&request, 0, sizeof request);
  const char *why = parse_arguments(argc, argv, &request);
  if (why == NULL) why = read_settings(&request);
  if (why != NULL) {
    log_line(LEVEL_DEBUG, "agent fast path not taken: %s; cmk isolate runs on its own", why);
    free(request.program);
    return;
  }

  struct line line = {.length = 0, .overflow = 0};
  appendf(&line, "CMK/1 allocate pool=%s count=%llu socket=%lld affinity=%d argv0=", request.pool, request.count, request.socket_id, request.affinity);
  append_encoded(&line, request.program[0]);
  if (request.conf_dir != NULL) {
    char *store = store_path(request.conf_dir);
    if (store == NULL) {
      log_line(LEVEL_DEBUG, "agent fast path not taken: cannot tell the absolute path of --conf-dir; cmk isolate runs on its own");
      free(request.program);
      return;
    }
    append(&line, " store=", 7);
    append_encoded(&line, store);
    free(store);
  }
  append(&line, "\n", 1);
  if (line.overflow) {
    log_line(LEVEL_DEBUG, "agent fast path not taken: the request does not fit the protocol's %d bytes; cmk isolate runs on its own", MAX_REQUEST);
    free(request.program);
    return;
  }

  int fd = connect_agent(request.socket_path, request.timeout_seconds);
  if (fd < 0) {
    char buffer[32];
    log_line(LEVEL_DEBUG, "agent fast path not taken: no cmk agent at %s (%s); cmk isolate runs on its own", request.socket_path,
             errno_name(errno, buffer, sizeof buffer));
    free(request.program);
    return;
  }
  if (!send_line(fd, &line)) {
    char buffer[32];
    log_line(LEVEL_DEBUG, "agent fast path not taken: cannot send to the cmk agent at %s (%s); cmk isolate runs on its own", request.socket_path,
             errno_name(errno, buffer, sizeof buffer));
    close(fd);
    free(request.program);
    return;
  }

  // From here on the agent may have allocated: no falling back, except on its `error 2`.
  size_t length = 0;
  char *reply = read_reply(fd, &request, &length);
  char *first_line = strndup(reply, length);  // For complaints, before the reply is cut into strings.
  char *status = reply;
  char *body = strchr(reply, '\n');
  *body++ = '\0';
  if (strncmp(status, "CMK/1 ", 6) != 0) unreadable(request.socket_path, first_line, length);
  const char *outcome = status + 6;
  if (strncmp(outcome, "error ", 6) == 0) {
    const char *number = outcome + 6;
    size_t digits = strspn(number, "0123456789");
    int code = digits >= 1 && digits <= 3 ? atoi(number) : 0;
    if (code < 1 || code > 255 || (number[digits] != '\0' && number[digits] != ' ')) unreadable(request.socket_path, first_line, length);
    const char *message = number[digits] == ' ' ? number + digits + 1 : "";
    if (code == 2) {
      log_line(LEVEL_DEBUG, "agent fast path not taken: the cmk agent at %s does not take this request (%s); cmk isolate runs on its own", request.socket_path,
               message);
      close(fd);
      free(reply);
      free(request.program);
      return;
    }
    FAIL(code, "%s", message);
  }
  if (strcmp(outcome, "ok") != 0) unreadable(request.socket_path, first_line, length);

  // The body: NAME=value lines up to the empty one. Only CMK_CPUS_* variables are taken.
  char *names[MAX_VARIABLES], *values[MAX_VARIABLES];
  size_t variables = 0;
  const char *assigned = NULL;
  for (char *entry = body; *entry != '\n' && *entry != '\0';) {
    char *end = strchr(entry, '\n');
    *end = '\0';
    char *equals = strchr(entry, '=');
    size_t name_length = equals != NULL ? (size_t)(equals - entry) : 0;
    for (size_t i = 0; i < name_length; i++) {
      if (!is_name_character(entry[i])) name_length = 0;
    }
    if (name_length == 0) unreadable(request.socket_path, entry, (size_t)(end - entry));
    *equals = '\0';
    if (strncmp(entry, "CMK_CPUS_", 9) == 0) {
      if (variables == MAX_VARIABLES) unreadable(request.socket_path, entry, (size_t)(end - entry));
      names[variables] = entry;
      values[variables++] = equals + 1;
      if (strcmp(entry, "CMK_CPUS_ASSIGNED") == 0) assigned = equals + 1;
    }
    entry = end + 1;
  }
  struct cpus cpus;
  if (assigned == NULL || !parse_cpus(assigned, &cpus)) {
    FAIL(EXIT_FAILURE_STATUS, "the cmk agent at %s answered ok without CPUs this cmk can read in CMK_CPUS_ASSIGNED; check that the agent and this cmk are the same version",
         request.socket_path);
  }
  char *cpu_text = format_cpus(&cpus);
  log_line(LEVEL_DEBUG, "cmk agent at %s: pool %s CPUs %s in %.1f ms", request.socket_path, request.pool, cpu_text, (monotonic_seconds() - started) * 1000);

  if (request.affinity) pin(&cpus);
  else log_line(LEVEL_INFO, "--no-affinity: not pinning; the command finds its CPUs in CMK_CPUS_ASSIGNED=%s", cpu_text);

  // The command gets its own CMK_CPUS_*: none may linger from an enclosing isolate.
  for (size_t i = 0; i < sizeof cpu_variables / sizeof cpu_variables[0]; i++) unsetenv(cpu_variables[i]);
  for (size_t i = 0; i < variables; i++) setenv(names[i], values[i], 1);
  give_back_workload_variables();

  // The lease goes with the command.
  int flags = fcntl(fd, F_GETFD);
  if (flags < 0 || fcntl(fd, F_SETFD, flags & ~FD_CLOEXEC) != 0) {
    char buffer[32];
    FAIL(EXIT_FAILURE_STATUS, "cannot hand the cmk agent's connection to the command: %s", errno_name(errno, buffer, sizeof buffer));
  }
  int error = cmk_exec(request.program[0], request.program, environ);
  char buffer[32];
  FAIL(error == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_EXECUTE, "cannot run %s: %s; check the command and PATH", request.program[0],
       exec_error_words(error, buffer, sizeof buffer));
}
