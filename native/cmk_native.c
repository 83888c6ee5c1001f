// Thin Node-API bindings for the system calls Node.js does not expose: sched_setaffinity,
// sched_getaffinity, flock (also a wait for an exclusive lock, bounded by a timeout, on a worker
// thread), a held child (started now, told later to exec), signal forwarding, a blocking wait,
// an immediate exit, the process at the other end of a Unix socket (SO_PEERCRED) and a
// process's exit watched on the event loop (pidfd). Every function returns (or resolves to) 0,
// or its result, or a negative errno; all interpretation (CPU sets, retries, messages) lives in
// TypeScript.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <signal.h>
#include <time.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <pthread.h>
#include <unistd.h>
#include <node_api.h>
#include <uv.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434  // Linux 5.3, the same number on every architecture
#endif

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

// ---- Waiting for a lock off the event loop ----------------------------------------------------
//
// A blocking flock wakes its waiter the moment the holder releases, which polling cannot do. It
// runs on a libuv worker thread, so the event loop of a server (or the CLI's timers) keeps
// running, and a timer aimed at that worker thread alone interrupts it when the timeout expires.

static void interrupt_wait(int signal_number) {
  (void)signal_number;  // Only there to make a blocked flock return EINTR.
}

// SIGALRM interrupts a blocked flock while any wait is under way; the disposition in force
// before the first of them is restored after the last.
static pthread_mutex_t alarm_mutex = PTHREAD_MUTEX_INITIALIZER;
static int alarm_waits = 0;
static struct sigaction alarm_previous;

static int alarm_interrupts_begin(void) {
  int result = 0;
  pthread_mutex_lock(&alarm_mutex);
  if (alarm_waits == 0) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = interrupt_wait;  // No SA_RESTART: the blocked flock must return.
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGALRM, &action, &alarm_previous) != 0) result = -errno;
  }
  if (result == 0) alarm_waits++;
  pthread_mutex_unlock(&alarm_mutex);
  return result;
}

static void alarm_interrupts_end(void) {
  pthread_mutex_lock(&alarm_mutex);
  if (--alarm_waits == 0) sigaction(SIGALRM, &alarm_previous, NULL);
  pthread_mutex_unlock(&alarm_mutex);
}

static double monotonic_ms(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)now.tv_sec * 1000 + (double)now.tv_nsec / 1e6;
}

static struct timespec timespec_of_ms(double ms) {
  struct timespec out;
  out.tv_sec = (time_t)(ms / 1000);
  out.tv_nsec = (long)((ms - (double)out.tv_sec * 1000) * 1e6);
  if (out.tv_sec == 0 && out.tv_nsec <= 0) out.tv_nsec = 1;
  return out;
}

// Blocks the calling thread in flock(LOCK_EX) until it holds the lock or timeout_ms pass:
// 0 | -ETIMEDOUT | -errno. The timer signals this thread at the deadline and every 10 ms after,
// so that a signal landing just before flock blocks cannot leave it waiting past the deadline.
static int flock_wait_here(int fd, double timeout_ms) {
  if (flock(fd, LOCK_EX | LOCK_NB) == 0) return 0;
  if (errno != EWOULDBLOCK) return -errno;
  if (timeout_ms <= 0) return -ETIMEDOUT;
  int result = alarm_interrupts_begin();
  if (result != 0) return result;
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
  double deadline = monotonic_ms() + timeout_ms;
  if (timer_create(CLOCK_MONOTONIC, &event, &timer) != 0) {
    result = -errno;
  } else {
    struct itimerspec expiry;
    expiry.it_value = timespec_of_ms(timeout_ms);
    expiry.it_interval = timespec_of_ms(10);
    timer_settime(timer, 0, &expiry, NULL);
    for (;;) {
      if (flock(fd, LOCK_EX) == 0) break;
      if (errno != EINTR) {
        result = -errno;
        break;
      }
      if (monotonic_ms() >= deadline) {
        result = -ETIMEDOUT;
        break;
      }
      // Another signal interrupted the wait: keep waiting.
    }
    timer_delete(timer);
  }
  pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
  alarm_interrupts_end();
  return result;
}

struct lock_wait {
  int fd;
  double timeout_ms;
  int result;
  napi_deferred deferred;
  napi_async_work work;
};

static void lock_wait_execute(napi_env env, void *data) {
  (void)env;  // A worker thread: no JavaScript here.
  struct lock_wait *wait = data;
  wait->result = flock_wait_here(wait->fd, wait->timeout_ms);
}

static void lock_wait_complete(napi_env env, napi_status status, void *data) {
  struct lock_wait *wait = data;
  napi_resolve_deferred(env, wait->deferred, int32_value(env, status == napi_ok ? wait->result : -ECANCELED));
  napi_delete_async_work(env, wait->work);
  free(wait);
}

// flockWaitAsync(fd, timeoutMs) -> Promise of 0 | -ETIMEDOUT | -errno (or -errno at once when
// the wait cannot be started). Waits for an exclusive lock on a worker thread.
static napi_value flock_wait_async(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  double timeout_ms = 0;
  if (argc < 2 || napi_get_value_double(env, argv[1], &timeout_ms) != napi_ok) return int32_value(env, -EINVAL);
  struct lock_wait *wait = calloc(1, sizeof *wait);
  if (wait == NULL) return int32_value(env, -ENOMEM);
  wait->fd = arg_int32(env, argv[0]);
  wait->timeout_ms = timeout_ms;
  napi_value promise, name;
  if (napi_create_promise(env, &wait->deferred, &promise) != napi_ok) {
    free(wait);
    return int32_value(env, -ENOMEM);
  }
  napi_create_string_utf8(env, "cmk:flockWait", NAPI_AUTO_LENGTH, &name);
  if (napi_create_async_work(env, NULL, name, lock_wait_execute, lock_wait_complete, wait, &wait->work) != napi_ok ||
      napi_queue_async_work(env, wait->work) != napi_ok) {
    napi_resolve_deferred(env, wait->deferred, int32_value(env, -ENOMEM));
    if (wait->work != NULL) napi_delete_async_work(env, wait->work);
    free(wait);
  }
  return promise;
}

// ---- A held child: started before its CPUs are known, released to exec once they are --------
//
// cmk isolate records the command's PID in the same state transaction that allocates its CPUs,
// so a kill -9 at any instant never leaves a running command on unrecorded CPUs. The command's
// process therefore exists first: cmk-hold (native/cmk_hold.c), started here with posix_spawn,
// waits on a pipe; isolate allocates, pins it, and writes the CMK_CPUS_* variables into the
// pipe; cmk-hold adds them to its environment and execs the command in the same process.

static char *string_copy(napi_env env, napi_value value) {
  size_t length = 0;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &length) != napi_ok) return NULL;
  char *text = malloc(length + 1);
  if (text != NULL) napi_get_value_string_utf8(env, value, text, length + 1, &length);
  return text;
}

// Frees a string_array: the strings after the `prefix` leading entries, then the array.
static void free_strings(char **items, size_t prefix) {
  if (items == NULL) return;
  for (char **item = items + prefix; *item != NULL; item++) free(*item);
  free(items);
}

// A NULL-terminated copy of a JS string array after `prefix` leading entries; NULL on failure.
static char **string_array(napi_env env, napi_value array, size_t prefix) {
  uint32_t length = 0;
  if (napi_get_array_length(env, array, &length) != napi_ok) return NULL;
  char **items = calloc((size_t)length + prefix + 1, sizeof(char *));
  if (items == NULL) return NULL;
  for (uint32_t i = 0; i < length; i++) {
    napi_value item;
    napi_get_element(env, array, i, &item);
    if ((items[prefix + i] = string_copy(env, item)) == NULL) {
      free_strings(items, prefix);
      return NULL;
    }
  }
  return items;
}

// A close-on-exec copy of fd numbered above the descriptors the helper receives, so that no
// dup2 below is a no-op that leaves close-on-exec set.
static int above_helper_fds(int fd) {
  if (fd > 4) return fd;
  int moved = fcntl(fd, F_DUPFD_CLOEXEC, 5);
  close(fd);
  return moved;
}

// spawnHeld(helper, argv: string[], env: string[]) -> [pid, startFd, reportFd] | -errno.
// Write 'S' and "NAME=value\0" entries to startFd and close it to start the command; then
// reportFd gives EOF when exec succeeded, or 4 bytes of errno when it failed. Closing startFd
// without writing makes the helper exit (125) without running anything.
static napi_value spawn_held(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 3) return int32_value(env, -EINVAL);
  char *helper = string_copy(env, argv[0]);
  char **args = string_array(env, argv[1], 1);
  char **envp = string_array(env, argv[2], 0);
  int start[2] = {-1, -1}, report[2] = {-1, -1};
  int result = 0;
  pid_t pid = -1;
  if (helper == NULL || args == NULL || envp == NULL) {
    result = -ENOMEM;
  } else if (pipe2(start, O_CLOEXEC) != 0 || pipe2(report, O_CLOEXEC) != 0) {
    result = -errno;
  } else if ((start[0] = above_helper_fds(start[0])) < 0 || (report[1] = above_helper_fds(report[1])) < 0) {
    result = -errno;
  } else {
    args[0] = helper;
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attributes;
    posix_spawn_file_actions_init(&actions);
    posix_spawnattr_init(&attributes);
    posix_spawn_file_actions_adddup2(&actions, start[0], 3);
    posix_spawn_file_actions_adddup2(&actions, report[1], 4);
    // Signal state as a freshly started program expects it: Node.js ignores SIGPIPE and blocks
    // nothing the command should see blocked.
    sigset_t all, none;
    sigfillset(&all);
    sigemptyset(&none);
    posix_spawnattr_setsigdefault(&attributes, &all);
    posix_spawnattr_setsigmask(&attributes, &none);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    // Node.js marks standard input and output close-on-exec; the command inherits them.
    int stdio_flags[3];
    for (int fd = 0; fd <= 2; fd++) {
      stdio_flags[fd] = fcntl(fd, F_GETFD);
      if (stdio_flags[fd] > 0) fcntl(fd, F_SETFD, stdio_flags[fd] & ~FD_CLOEXEC);
    }
    result = -posix_spawn(&pid, helper, &actions, &attributes, args, envp);
    for (int fd = 0; fd <= 2; fd++) {
      if (stdio_flags[fd] > 0) fcntl(fd, F_SETFD, stdio_flags[fd]);
    }
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
  }
  free(helper);
  free_strings(args, 1);
  free_strings(envp, 0);
  if (start[0] >= 0) close(start[0]);
  if (report[1] >= 0) close(report[1]);
  if (result != 0) {
    if (start[1] >= 0) close(start[1]);
    if (report[0] >= 0) close(report[0]);
    return int32_value(env, result);
  }
  napi_value out;
  napi_create_array_with_length(env, 3, &out);
  napi_set_element(env, out, 0, int32_value(env, pid));
  napi_set_element(env, out, 1, int32_value(env, start[1]));
  napi_set_element(env, out, 2, int32_value(env, report[0]));
  return out;
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

// ---- Who is at the other end of a socket, and when a process ends ------------------------------
//
// cmk agent learns who asked from the kernel, never from the request: SO_PEERCRED names the
// process that connected. It frees a task's lists the moment the task's process exits: a pidfd
// (pidfd_open, Linux 5.3) becomes readable then, even before the process is reaped, and libuv
// watches it on the event loop like a socket, with no polling of /proc and no thread.

// peerCredentials(fd) -> { pid, uid, gid } | -errno: the process that connected to (or accepted)
// this Unix socket, as the kernel recorded it then; its PID as this process's PID namespace
// numbers it. -ENOTCONN when the socket has no peer.
static napi_value peer_credentials(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 1) return int32_value(env, -EINVAL);
  struct ucred credentials;
  socklen_t length = sizeof credentials;
  if (getsockopt(arg_int32(env, argv[0]), SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) return int32_value(env, -errno);
  if (credentials.pid <= 0) return int32_value(env, -ENOTCONN);
  napi_value out, pid, uid, gid;
  napi_create_object(env, &out);
  napi_create_int32(env, credentials.pid, &pid);
  napi_create_uint32(env, credentials.uid, &uid);
  napi_create_uint32(env, credentials.gid, &gid);
  napi_set_named_property(env, out, "pid", pid);
  napi_set_named_property(env, out, "uid", uid);
  napi_set_named_property(env, out, "gid", gid);
  return out;
}

// One watch: freed when both the libuv handle is closed and the JS close function is collected,
// so a close() called at any time finds it.
struct exit_watch {
  uv_poll_t poll;
  int pidfd;
  napi_env env;
  napi_ref callback;
  napi_async_context context;
  napi_async_cleanup_hook_handle cleanup;
  int closing;
  int references;
};

static void exit_watch_release(struct exit_watch *watch) {
  if (--watch->references == 0) free(watch);
}

static void exit_watch_closed(uv_handle_t *handle) {
  struct exit_watch *watch = handle->data;
  close(watch->pidfd);
  if (watch->callback != NULL) napi_delete_reference(watch->env, watch->callback);
  if (watch->context != NULL) napi_async_destroy(watch->env, watch->context);
  if (watch->cleanup != NULL) napi_remove_async_cleanup_hook(watch->cleanup);
  exit_watch_release(watch);
}

// Stops watching, at most once: by close(), after the exit, or when the environment ends.
static void exit_watch_stop(struct exit_watch *watch) {
  if (watch->closing) return;
  watch->closing = 1;
  uv_poll_stop(&watch->poll);
  uv_close((uv_handle_t *)&watch->poll, exit_watch_closed);
}

// The pidfd is readable: the process has exited. An error polling it (never seen) is reported
// the same way; a caller that must be sure checks the process (procfs) when called.
static void exit_watch_ready(uv_poll_t *poll, int status, int events) {
  (void)status;
  (void)events;
  struct exit_watch *watch = poll->data;
  napi_env env = watch->env;
  exit_watch_stop(watch);  // Called back once; close() from the callback on does nothing.
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value callback, receiver, result;
  if (napi_get_reference_value(env, watch->callback, &callback) == napi_ok && callback != NULL) {
    napi_get_global(env, &receiver);  // napi_make_callback wants an object to call it on.
    // Runs the callback as an async operation of its own (async hooks, microtasks after it).
    if (napi_make_callback(env, watch->context, receiver, callback, 0, NULL, &result) == napi_pending_exception) {
      napi_value error;
      napi_get_and_clear_last_exception(env, &error);
      napi_fatal_exception(env, error);  // The process's uncaughtException, as for any callback.
    }
  }
  napi_close_handle_scope(env, scope);
}

static void exit_watch_cleanup(napi_async_cleanup_hook_handle handle, void *data) {
  (void)handle;  // Removed in exit_watch_closed, once libuv has let go of the handle.
  exit_watch_stop(data);
}

static napi_value exit_watch_close(napi_env env, napi_callback_info info) {
  void *data = NULL;
  napi_get_cb_info(env, info, NULL, NULL, NULL, &data);
  exit_watch_stop(data);
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  return undefined;
}

static void exit_watch_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  exit_watch_release(data);
}

// watchExit(pid, onExit, keepAlive = false) -> { close() } | -errno. Calls onExit once, on the
// event loop, when process `pid` has exited (also when it is a zombie not yet reaped, at once),
// unless close() came first; after either, the pidfd and the handle are freed. The watch keeps
// the event loop alive only with keepAlive: a server's loop runs anyway, and a watch of a
// long-lived process must not keep a process that has finished everything else from exiting.
// -ESRCH: no such process, it has exited and been reaped already (or never was). -ENOSYS: the
// kernel has no pidfd_open (before 5.3); poll procfs instead. -EINVAL: a pid <= 0, or onExit is
// no function. The PID is this process's PID namespace's; whether it is still the process meant
// (not a new one with a recycled PID) is for the caller to check after the watch is set (by its
// start time in procfs): the pidfd then holds that process.
static napi_value watch_exit(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  napi_valuetype type = napi_undefined;
  if (argc < 2 || napi_typeof(env, argv[1], &type) != napi_ok || type != napi_function) return int32_value(env, -EINVAL);
  int32_t pid = arg_int32(env, argv[0]);
  if (pid <= 0) return int32_value(env, -EINVAL);
  bool keep_alive = false;
  if (argc > 2) napi_get_value_bool(env, argv[2], &keep_alive);  // Not a boolean: false.
  uv_loop_t *loop = NULL;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == NULL) return int32_value(env, -ENOSYS);
  int pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);  // Always close-on-exec.
  if (pidfd < 0) return int32_value(env, -errno);
  struct exit_watch *watch = calloc(1, sizeof *watch);
  if (watch == NULL) {
    close(pidfd);
    return int32_value(env, -ENOMEM);
  }
  watch->pidfd = pidfd;
  watch->env = env;
  watch->poll.data = watch;
  int rc = uv_poll_init(loop, &watch->poll, pidfd);
  if (rc != 0) {
    close(pidfd);
    free(watch);
    return int32_value(env, rc);  // libuv's errors are negative errnos on Linux.
  }
  watch->references = 1;  // The handle's; the close function's comes with it below.
  napi_value name, out, close_function;
  napi_create_string_utf8(env, "cmk:watchExit", NAPI_AUTO_LENGTH, &name);
  if (napi_create_reference(env, argv[1], 1, &watch->callback) != napi_ok || napi_async_init(env, NULL, name, &watch->context) != napi_ok ||
      napi_add_async_cleanup_hook(env, exit_watch_cleanup, watch, &watch->cleanup) != napi_ok ||
      napi_create_function(env, "close", NAPI_AUTO_LENGTH, exit_watch_close, watch, &close_function) != napi_ok ||
      napi_add_finalizer(env, close_function, watch, exit_watch_finalize, NULL, NULL) != napi_ok) {
    exit_watch_stop(watch);
    return int32_value(env, -ENOMEM);
  }
  watch->references++;
  rc = uv_poll_start(&watch->poll, UV_READABLE, exit_watch_ready);
  if (rc != 0) {
    exit_watch_stop(watch);
    return int32_value(env, rc);
  }
  if (!keep_alive) uv_unref((uv_handle_t *)&watch->poll);
  napi_create_object(env, &out);
  napi_set_named_property(env, out, "close", close_function);
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
    {"setAffinity", NULL, set_affinity, NULL, NULL, NULL, napi_default, NULL},
    {"getAffinity", NULL, get_affinity, NULL, NULL, NULL, napi_default, NULL},
    {"flock", NULL, flock_fd, NULL, NULL, NULL, napi_default, NULL},
    {"flockWaitAsync", NULL, flock_wait_async, NULL, NULL, NULL, napi_default, NULL},
    {"spawnHeld", NULL, spawn_held, NULL, NULL, NULL, napi_default, NULL},
    {"forwardSignals", NULL, forward_signals, NULL, NULL, NULL, napi_default, NULL},
    {"forwardTo", NULL, forward_to, NULL, NULL, NULL, napi_default, NULL},
    {"waitChild", NULL, wait_child, NULL, NULL, NULL, napi_default, NULL},
    {"exitNow", NULL, exit_now, NULL, NULL, NULL, napi_default, NULL},
    {"peerCredentials", NULL, peer_credentials, NULL, NULL, NULL, napi_default, NULL},
    {"watchExit", NULL, watch_exit, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof(properties) / sizeof(properties[0]), properties);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
