// Thin Node-API bindings for the system calls Node.js does not expose: sched_setaffinity,
// sched_getaffinity, flock (also a blocking flock bounded by a timeout), a child that is forked
// now and told later to exec, signal forwarding and a blocking wait. Every function returns 0 (or
// its result) or a negative errno; all interpretation (CPU sets, retries, messages) lives in
// TypeScript.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <time.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <pthread.h>
#include <unistd.h>
#include <node_api.h>

static int32_t arg_int32(napi_env env, napi_value value) {
  int32_t out = 0;
  napi_get_value_int32(env, value, &out);
  return out;
}

static napi_value int32_value(napi_env env, int32_t number) {
  napi_value out;
  napi_create_int32(env, number, &out);
  return out;
}

// setAffinity(tid, mask: Uint8Array) -> 0 | -errno. mask byte i holds CPUs 8i..8i+7.
static napi_value set_affinity(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *data = NULL;
  size_t length = 0;
  if (argc < 2 || napi_get_typedarray_info(env, argv[1], NULL, &length, &data, NULL, NULL) != napi_ok) {
    return int32_value(env, -EINVAL);
  }
  // The kernel reads the mask in whole unsigned longs.
  size_t padded = (length + sizeof(unsigned long) - 1) / sizeof(unsigned long) * sizeof(unsigned long);
  unsigned char *mask = calloc(padded ? padded : sizeof(unsigned long), 1);
  if (mask == NULL) return int32_value(env, -ENOMEM);
  memcpy(mask, data, length);
  long rc = syscall(SYS_sched_setaffinity, (pid_t)arg_int32(env, argv[0]), padded, mask);
  int saved = errno;
  free(mask);
  return int32_value(env, rc == 0 ? 0 : -saved);
}

// getAffinity(tid) -> Uint8Array | -errno. Grows the buffer until the kernel's cpumask fits.
static napi_value get_affinity(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  pid_t tid = argc > 0 ? (pid_t)arg_int32(env, argv[0]) : 0;
  for (size_t size = 128; size <= (1u << 20); size *= 2) {
    void *buffer_data = NULL;
    napi_value array_buffer;
    if (napi_create_arraybuffer(env, size, &buffer_data, &array_buffer) != napi_ok) {
      return int32_value(env, -ENOMEM);
    }
    long rc = syscall(SYS_sched_getaffinity, tid, size, buffer_data);
    if (rc > 0) {
      napi_value view;
      napi_create_typedarray(env, napi_uint8_array, (size_t)rc, array_buffer, 0, &view);
      return view;
    }
    if (errno != EINVAL) return int32_value(env, -errno);
  }
  return int32_value(env, -EINVAL);
}

// flock(fd, operation) -> 0 | -errno, operation as in flock(2) (LOCK_EX | LOCK_NB ...).
static napi_value flock_fd(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2) return int32_value(env, -EINVAL);
  int rc = flock(arg_int32(env, argv[0]), arg_int32(env, argv[1]));
  return int32_value(env, rc == 0 ? 0 : -errno);
}

static void interrupt_wait(int signal_number) {
  (void)signal_number;  // Only there to make a blocked flock return EINTR.
}

// flockWait(fd, timeoutMs) -> 0 | -ETIMEDOUT | -errno. Blocks in the kernel for an exclusive lock,
// so a waiter wakes the moment the holder releases; a timer aimed at this thread alone
// interrupts the wait when the timeout expires.
static napi_value flock_wait(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  double timeout_ms = 0;
  if (argc < 2 || napi_get_value_double(env, argv[1], &timeout_ms) != napi_ok) return int32_value(env, -EINVAL);
  int fd = arg_int32(env, argv[0]);
  if (flock(fd, LOCK_EX | LOCK_NB) == 0) return int32_value(env, 0);
  if (errno != EWOULDBLOCK) return int32_value(env, -errno);
  if (timeout_ms <= 0) return int32_value(env, -ETIMEDOUT);

  struct sigaction action, previous;
  memset(&action, 0, sizeof action);
  action.sa_handler = interrupt_wait;  // No SA_RESTART: the blocked flock must return.
  sigemptyset(&action.sa_mask);
  if (sigaction(SIGALRM, &action, &previous) != 0) return int32_value(env, -errno);
  sigset_t alarm_only, old_mask;
  sigemptyset(&alarm_only);
  sigaddset(&alarm_only, SIGALRM);
  pthread_sigmask(SIG_UNBLOCK, &alarm_only, &old_mask);

  struct sigevent event;
  memset(&event, 0, sizeof event);
  event.sigev_notify = SIGEV_THREAD_ID;
  event.sigev_signo = SIGALRM;
  event._sigev_un._tid = (pid_t)syscall(SYS_gettid);
  timer_t timer;
  int result = 0;
  if (timer_create(CLOCK_MONOTONIC, &event, &timer) != 0) {
    result = -errno;
  } else {
    struct itimerspec expiry;
    memset(&expiry, 0, sizeof expiry);
    expiry.it_value.tv_sec = (time_t)(timeout_ms / 1000);
    expiry.it_value.tv_nsec = (long)((timeout_ms - (double)expiry.it_value.tv_sec * 1000) * 1e6);
    if (expiry.it_value.tv_sec == 0 && expiry.it_value.tv_nsec == 0) expiry.it_value.tv_nsec = 1;
    timer_settime(timer, 0, &expiry, NULL);
    for (;;) {
      if (flock(fd, LOCK_EX) == 0) break;
      if (errno != EINTR) {
        result = -errno;
        break;
      }
      struct itimerspec left;
      timer_gettime(timer, &left);
      if (left.it_value.tv_sec == 0 && left.it_value.tv_nsec == 0) {
        result = -ETIMEDOUT;
        break;
      }
      // Another signal interrupted the wait: keep waiting.
    }
    timer_delete(timer);
  }
  pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
  sigaction(SIGALRM, &previous, NULL);
  return int32_value(env, result);
}

// ---- A held child: forked before its CPUs are known, released to exec once they are ----------
//
// cmk isolate records the child's PID in the same state transaction that allocates its CPUs,
// so a kill -9 at any instant never leaves a running command on unrecorded CPUs. The child
// therefore exists first, blocked reading a pipe; the parent then allocates, pins the child,
// and writes the CMK_CPUS_* variables into the pipe; the child appends them to its environment
// and execs. EOF without a message (the parent gave up or died) makes it exit without running
// anything. A second, close-on-exec pipe carries an exec failure's errno back.

#define HELD_ABANDONED 125
#define HELD_EXTRA_SLOTS 32
#define HELD_MESSAGE_CAPACITY (1 << 20)
#define HELD_START_MARK 'S'

// Everything the child touches, allocated before fork: the forked copy of a multithreaded
// process may only make async-signal-safe calls, so it cannot allocate.
struct held_plan {
  char **argv;
  char **envp;  // base environment, then HELD_EXTRA_SLOTS spare slots for the message's variables
  size_t env_count;
  char *search_path;
  char *message;
  char *path_buffer;
  size_t path_capacity;
};

static char *string_copy(napi_env env, napi_value value) {
  size_t length = 0;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok) return NULL;
  char *text = malloc(length + 1);
  if (text != NULL) napi_get_value_string_utf8(env, value, text, length + 1, &length);
  return text;
}

// A NULL-terminated copy of a JS string array with `spare` extra NULL slots; NULL on failure.
static char **string_array(napi_env env, napi_value array, size_t spare, size_t *count) {
  uint32_t length = 0;
  if (napi_get_array_length(env, array, &length) != napi_ok) return NULL;
  char **items = calloc((size_t)length + spare + 1, sizeof(char *));
  if (items == NULL) return NULL;
  for (uint32_t i = 0; i < length; i++) {
    napi_value item;
    napi_get_element(env, array, i, &item);
    if ((items[i] = string_copy(env, item)) == NULL) {
      for (uint32_t j = 0; j < i; j++) free(items[j]);
      free(items);
      return NULL;
    }
  }
  *count = length;
  return items;
}

static void free_strings(char **items) {
  if (items == NULL) return;
  for (char **item = items; *item != NULL; item++) free(*item);
  free(items);
}

static void free_plan(struct held_plan *plan) {
  free_strings(plan->argv);
  free_strings(plan->envp);
  free(plan->search_path);
  free(plan->message);
  free(plan->path_buffer);
}

// Runs in the forked child: async-signal-safe calls only.
static void held_child(struct held_plan *plan, int go_fd, int report_fd) {
  // Signal state as a freshly started program expects it: Node.js ignores SIGPIPE and handles
  // others, and the parent blocked every signal around fork.
  struct sigaction default_action;
  memset(&default_action, 0, sizeof default_action);
  default_action.sa_handler = SIG_DFL;
  sigemptyset(&default_action.sa_mask);
  for (int signal_number = 1; signal_number < NSIG; signal_number++) {
    if (signal_number != SIGKILL && signal_number != SIGSTOP) sigaction(signal_number, &default_action, NULL);
  }
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  // The command inherits standard input and output as they are, except that Node.js marks them
  // close-on-exec and may have made them non-blocking.
  for (int fd = 0; fd <= 2; fd++) {
    fcntl(fd, F_SETFD, 0);
    int flags = fcntl(fd, F_GETFL);
    if (flags >= 0 && (flags & O_NONBLOCK) != 0) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  }

  size_t used = 0;
  while (used < HELD_MESSAGE_CAPACITY) {
    ssize_t got = read(go_fd, plan->message + used, HELD_MESSAGE_CAPACITY - used);
    if (got > 0) used += (size_t)got;
    else if (got == 0 || errno != EINTR) break;
  }
  close(go_fd);
  if (used == 0 || plan->message[0] != HELD_START_MARK) _exit(HELD_ABANDONED);

  int error = 0;
  if (used == HELD_MESSAGE_CAPACITY) error = E2BIG;
  size_t count = plan->env_count;
  for (size_t at = 1; error == 0 && at < used;) {
    if (count == plan->env_count + HELD_EXTRA_SLOTS) error = E2BIG;
    else {
      plan->envp[count++] = plan->message + at;
      at += strnlen(plan->message + at, used - at) + 1;
    }
  }
  plan->envp[count] = NULL;

  const char *file = plan->argv[0];
  if (error == 0 && strchr(file, '/') != NULL) {
    execve(file, plan->argv, plan->envp);
    error = errno;
  } else if (error == 0) {
    // The PATH search of execvp, without its allocations: EACCES wins over ENOENT, other errors stop.
    size_t file_length = strlen(file);
    int denied = 0;
    error = ENOENT;
    for (const char *dir = plan->search_path;;) {
      const char *end = strchrnul(dir, ':');
      size_t dir_length = (size_t)(end - dir);
      if (dir_length + file_length + 2 <= plan->path_capacity) {
        char *path = plan->path_buffer;
        if (dir_length > 0) {
          memcpy(path, dir, dir_length);
          path[dir_length++] = '/';
        }
        memcpy(path + dir_length, file, file_length + 1);
        execve(path, plan->argv, plan->envp);
        if (errno == EACCES) denied = 1;
        else if (errno != ENOENT && errno != ENOTDIR) {
          error = errno;
          break;
        }
      }
      if (*end == '\0') break;
      dir = end + 1;
    }
    if (denied && error == ENOENT) error = EACCES;
  }
  ssize_t ignored = write(report_fd, &error, sizeof error);
  (void)ignored;
  _exit(127);
}

// spawnHeld(argv: string[], env: string[], searchPath: string) -> [pid, goFd, reportFd] | -errno.
// Write HELD_START_MARK and "NAME=value\0" entries to goFd and close it to start the command;
// then reportFd gives EOF when exec succeeded, or 4 bytes of errno when it failed. Closing goFd
// without writing makes the child exit unstarted.
static napi_value spawn_held(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 3) return int32_value(env, -EINVAL);
  struct held_plan plan;
  memset(&plan, 0, sizeof plan);
  size_t arg_count = 0;
  plan.argv = string_array(env, argv[0], 0, &arg_count);
  plan.envp = string_array(env, argv[1], HELD_EXTRA_SLOTS, &plan.env_count);
  plan.search_path = string_copy(env, argv[2]);
  plan.message = malloc(HELD_MESSAGE_CAPACITY);
  plan.path_capacity = (plan.search_path != NULL ? strlen(plan.search_path) : 0) + (arg_count > 0 && plan.argv != NULL ? strlen(plan.argv[0]) : 0) + 2;
  plan.path_buffer = malloc(plan.path_capacity);
  if (plan.argv == NULL || plan.envp == NULL || plan.search_path == NULL || plan.message == NULL || plan.path_buffer == NULL) {
    free_plan(&plan);
    return int32_value(env, -ENOMEM);
  }
  if (arg_count == 0) {
    free_plan(&plan);
    return int32_value(env, -EINVAL);
  }
  int go[2], report[2];
  if (pipe2(go, O_CLOEXEC) != 0) {
    int saved = errno;
    free_plan(&plan);
    return int32_value(env, -saved);
  }
  if (pipe2(report, O_CLOEXEC) != 0) {
    int saved = errno;
    close(go[0]);
    close(go[1]);
    free_plan(&plan);
    return int32_value(env, -saved);
  }
  // No handler of ours or of Node.js may run in the child before it resets them.
  sigset_t all, previous;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &previous);
  pid_t pid = fork();
  if (pid == 0) {
    close(go[1]);
    close(report[0]);
    held_child(&plan, go[0], report[1]);
  }
  int saved = errno;
  pthread_sigmask(SIG_SETMASK, &previous, NULL);
  close(go[0]);
  close(report[1]);
  free_plan(&plan);
  if (pid < 0) {
    close(go[1]);
    close(report[0]);
    return int32_value(env, -saved);
  }
  napi_value result;
  napi_create_array_with_length(env, 3, &result);
  napi_set_element(env, result, 0, int32_value(env, pid));
  napi_set_element(env, result, 1, int32_value(env, go[1]));
  napi_set_element(env, result, 2, int32_value(env, report[0]));
  return result;
}

// ---- Signal forwarding and waiting -------------------------------------------------------------

static volatile sig_atomic_t forward_target = 0;
static volatile sig_atomic_t held_back_signal = 0;

// Runs on whichever thread the kernel picks: kill(2) only.
static void forward_signal(int signal_number) {
  pid_t target = forward_target;
  if (target > 0) kill(target, signal_number);
  else if (held_back_signal == 0) held_back_signal = signal_number;
}

// forwardSignals(signals: number[]) -> 0 | -errno. From now on these signals go to the target
// set by forwardTo; while there is none, the first one is held back for forwardTo to return.
static napi_value forward_signals(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  uint32_t length = 0;
  if (argc < 1 || napi_get_array_length(env, argv[0], &length) != napi_ok) return int32_value(env, -EINVAL);
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = forward_signal;
  action.sa_flags = SA_RESTART;
  sigemptyset(&action.sa_mask);
  for (uint32_t i = 0; i < length; i++) {
    napi_value item;
    napi_get_element(env, argv[0], i, &item);
    sigaddset(&action.sa_mask, arg_int32(env, item));
  }
  for (uint32_t i = 0; i < length; i++) {
    napi_value item;
    napi_get_element(env, argv[0], i, &item);
    if (sigaction(arg_int32(env, item), &action, NULL) != 0) return int32_value(env, -errno);
  }
  return int32_value(env, 0);
}

// forwardTo(pid) -> the signal held back so far (0 if none), which is cleared. pid 0 holds
// signals back again.
static napi_value forward_to(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  forward_target = argc > 0 ? arg_int32(env, argv[0]) : 0;
  return int32_value(env, __atomic_exchange_n(&held_back_signal, 0, __ATOMIC_SEQ_CST));
}

// waitChild(pid) -> its exit status, 128+N when signal N ended it, or -errno. Blocks. Stops
// forwarding to it before its PID can be reused.
static napi_value wait_child(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  pid_t pid = argc > 0 ? (pid_t)arg_int32(env, argv[0]) : -1;
  siginfo_t ended;
  int rc;
  do {
    memset(&ended, 0, sizeof ended);
    rc = waitid(P_PID, (id_t)pid, &ended, WEXITED | WNOWAIT);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) return int32_value(env, -errno);
  if (forward_target == pid) forward_target = 0;  // A zombie's PID is not reused yet.
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return int32_value(env, ended.si_code == CLD_EXITED ? ended.si_status : 128 + ended.si_status);
}

// exitNow(code): ends the process with _exit(2). cmk writes its output synchronously, so nothing
// is pending; this skips Node.js tearing down a heap and threads that the kernel frees anyway.
static napi_value exit_now(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  _exit(argc > 0 ? arg_int32(env, argv[0]) : 1);
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
    {"setAffinity", NULL, set_affinity, NULL, NULL, NULL, napi_default, NULL},
    {"getAffinity", NULL, get_affinity, NULL, NULL, NULL, napi_default, NULL},
    {"flock", NULL, flock_fd, NULL, NULL, NULL, napi_default, NULL},
    {"flockWait", NULL, flock_wait, NULL, NULL, NULL, napi_default, NULL},
    {"spawnHeld", NULL, spawn_held, NULL, NULL, NULL, napi_default, NULL},
    {"forwardSignals", NULL, forward_signals, NULL, NULL, NULL, napi_default, NULL},
    {"forwardTo", NULL, forward_to, NULL, NULL, NULL, napi_default, NULL},
    {"waitChild", NULL, wait_child, NULL, NULL, NULL, napi_default, NULL},
    {"exitNow", NULL, exit_now, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof(properties) / sizeof(properties[0]), properties);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
