// Thin Node-API bindings for the system calls Node.js does not expose: sched_setaffinity,
// sched_getaffinity and flock (also a blocking flock bounded by a timeout). Every function returns 0 or a
// negative errno; all interpretation (CPU sets, retries, messages) lives in TypeScript.
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <time.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/syscall.h>
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

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor properties[] = {
    {"setAffinity", NULL, set_affinity, NULL, NULL, NULL, napi_default, NULL},
    {"getAffinity", NULL, get_affinity, NULL, NULL, NULL, napi_default, NULL},
    {"flock", NULL, flock_fd, NULL, NULL, NULL, napi_default, NULL},
    {"flockWait", NULL, flock_wait, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof(properties) / sizeof(properties[0]), properties);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
