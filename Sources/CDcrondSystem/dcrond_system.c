#define _GNU_SOURCE
#include "dcrond_system.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

void dcrond_set_thread_name(const char *name) {
    // prctl is variadic, so Swift cannot call it directly.
    (void)prctl(PR_SET_NAME, name, 0, 0, 0);
}

int dcrond_malloc_trim(void) { return malloc_trim(0); }


void dcrond_set_timer_slack(unsigned long nanoseconds) {
    (void)prctl(PR_SET_TIMERSLACK, nanoseconds, 0, 0, 0);
}

/// Shared with the child (CLONE_VM): it writes here if a step fails before exec.
typedef struct {
    const dcrond_spawn_request *request;
    volatile int error;
    volatile int step;
} child_context;

void dcrond_flag_set(int *flag) { __atomic_store_n(flag, 1, __ATOMIC_RELEASE); }

unsigned long long dcrond_signals_not_default(void) {
    struct {
        void *handler;
        unsigned long flags;
        void *restorer;
        unsigned long mask;
    } action;
    unsigned long long signals = 0;
    for (int signal = 1; signal <= 64; signal++) {
        if (signal == SIGKILL || signal == SIGSTOP) continue;
        // Raw: glibc's sigaction refuses its internal signals (32, 33), which have handlers.
        if (syscall(SYS_rt_sigaction, signal, NULL, &action, sizeof(unsigned long)) != 0 || action.handler != NULL) {
            signals |= 1ULL << (signal - 1);
        }
    }
    return signals;
}

/// Bumped by dcrond_signals_changed: a reading older than the last change is not reused.
static unsigned long signals_generation;

void dcrond_signals_changed(void) { __atomic_add_fetch(&signals_generation, 1, __ATOMIC_RELEASE); }

unsigned long long dcrond_signals_not_default_recent(void) {
    // Per thread: each spawner thread keeps its own, no lock. In a burst a spawner starts a child
    // every few hundred microseconds, and the 62 reads would be a tenth of its work.
    static __thread unsigned long long cached;
    static __thread long long read_at;
    static __thread unsigned long read_generation = (unsigned long)-1;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long nanoseconds = (long long)now.tv_sec * 1000000000LL + now.tv_nsec;
    unsigned long generation = __atomic_load_n(&signals_generation, __ATOMIC_ACQUIRE);
    if (generation != read_generation || nanoseconds - read_at > DCROND_SIGNALS_MAX_AGE_NS) {
        cached = dcrond_signals_not_default();
        read_at = nanoseconds;
        read_generation = generation;
    }
    return cached;
}

/// The timer slack the process started with (systemd's TimerSlackNSec=, or the kernel's 50 µs),
/// read before any thread changes its own: what a job gets.
static unsigned long initial_timer_slack = 50000;

__attribute__((constructor)) static void read_initial_timer_slack(void) {
    int slack = prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0);
    if (slack > 0) initial_timer_slack = (unsigned long)slack;
}

static int child_main(void *argument) {
    child_context *context = argument;
    const dcrond_spawn_request *request = context->request;
    int step = DCROND_SPAWN_STEP_SETSID;

    // Raw system calls where glibc's wrappers would act on the whole (parent's) thread group:
    // setuid and friends broadcast to every thread, which this child shares memory with but is not.
    if (syscall(SYS_setsid) < 0) goto fail;

    // Default dispositions and an empty mask: the daemon ignores SIGPIPE, the parent blocked every
    // signal around the clone, and both would otherwise be inherited across exec. Raw system calls:
    // glibc's wrappers refuse its internal signals (32, 33) and filter masks.
    step = DCROND_SPAWN_STEP_SIGNALS;
    struct {
        void *handler;
        unsigned long flags;
        void *restorer;
        unsigned long mask;
    } default_action = {0};  // SIG_DFL
    for (int signal = 1; signal <= 64; signal++) {
        if (signal == SIGKILL || signal == SIGSTOP) continue;
        if ((request->reset_signals & (1ULL << (signal - 1))) == 0) continue;  // SIG_DFL already
        (void)syscall(SYS_rt_sigaction, signal, &default_action, NULL, sizeof(unsigned long));
    }
    unsigned long empty_mask = 0;
    if (syscall(SYS_rt_sigprocmask, SIG_SETMASK, &empty_mask, NULL, sizeof empty_mask) < 0) goto fail;

    step = DCROND_SPAWN_STEP_STDIO;
    if (dup2(request->stdin_fd, 0) < 0 || dup2(request->stdout_fd, 1) < 0 || dup2(request->stderr_fd, 2) < 0) goto fail;

    if (request->change_identity) {
        step = DCROND_SPAWN_STEP_SETGROUPS;
        if (syscall(SYS_setgroups, request->group_count, request->groups) < 0) goto fail;
        step = DCROND_SPAWN_STEP_SETGID;
        if (syscall(SYS_setresgid, request->gid, request->gid, request->gid) < 0) goto fail;
        step = DCROND_SPAWN_STEP_SETUID;
        if (syscall(SYS_setresuid, request->uid, request->uid, request->uid) < 0) goto fail;
    }

    // The child has a file-system context of its own (no CLONE_FS): this is not the daemon's mask.
    (void)syscall(SYS_umask, request->umask);
    if (request->descriptor_soft_limit != 0) {
        struct rlimit limit = {request->descriptor_soft_limit, request->descriptor_hard_limit};
        (void)syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, &limit, NULL);
    }

    if (request->working_directory != NULL) {
        step = DCROND_SPAWN_STEP_CHDIR;
        if (chdir(request->working_directory) < 0) goto fail;
    }

    // No descriptor of the daemon survives: the hiredis socket, epoll, pipes of other runs.
    step = DCROND_SPAWN_STEP_CLOSE;
    if (syscall(SYS_close_range, 3U, ~0U, 0U) < 0) {
        // Kernels before 5.9: close one by one.
        long limit = sysconf(_SC_OPEN_MAX);
        for (long fd = 3; fd < limit; fd++) (void)close((int)fd);
    }

    if (request->not_before != 0) {
        // Everything but the exec is done: wait here for the instant, in slices, for the flag.
        step = DCROND_SPAWN_STEP_WAIT;
        for (;;) {
            if ((request->cancelled != NULL && __atomic_load_n(request->cancelled, __ATOMIC_ACQUIRE) != 0) ||
                (request->cancelled_too != NULL && __atomic_load_n(request->cancelled_too, __ATOMIC_ACQUIRE) != 0)) {
                errno = ECANCELED;
                goto fail;
            }
            struct timespec now;
            clock_gettime(CLOCK_REALTIME, &now);
            long long left = request->not_before - ((long long)now.tv_sec * 1000000000LL + now.tv_nsec);
            if (left <= 0 || left > 1000000000LL) break;
            long long wake = left > 10000000LL ? request->not_before - left + 10000000LL : request->not_before;
            struct timespec at = {(time_t)(wake / 1000000000LL), (long)(wake % 1000000000LL)};
            (void)clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &at, NULL);
        }
    }

    // The spawner thread sleeps with a timer slack of 1 µs; the job gets the daemon's own back.
    (void)syscall(SYS_prctl, PR_SET_TIMERSLACK, initial_timer_slack, 0UL, 0UL, 0UL);

    step = DCROND_SPAWN_STEP_EXEC;
    execve(request->path, request->argv, request->envp);

fail:
    context->error = errno;
    context->step = step;
    _exit(127);
}

/// One child stack per spawning thread, unmapped when the thread ends.
static const size_t child_stack_size = 64 * 1024;
static pthread_key_t child_stack_key;
static pthread_once_t child_stack_once = PTHREAD_ONCE_INIT;

static void unmap_child_stack(void *stack) { munmap(stack, child_stack_size); }

static void make_child_stack_key(void) { (void)pthread_key_create(&child_stack_key, unmap_child_stack); }

int dcrond_spawn(const dcrond_spawn_request *request, pid_t *pid, int *pidfd, int *failed_step) {
    // The child runs on its own stack while the parent is suspended (CLONE_VFORK): the stack is
    // free again once clone returns, so each spawning thread keeps one. (An mmap and munmap per
    // spawn took the address space's lock against the other threads and, at the munmap, flushed
    // the TLB of every CPU running one of them.)
    pthread_once(&child_stack_once, make_child_stack_key);
    void *stack = pthread_getspecific(child_stack_key);
    if (stack == NULL) {
        stack = mmap(NULL, child_stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (stack == MAP_FAILED) {
            *failed_step = DCROND_SPAWN_STEP_CLONE;
            return errno;
        }
        pthread_setspecific(child_stack_key, stack);
    }
    const size_t stack_size = child_stack_size;
    child_context context = {.request = request, .error = 0, .step = DCROND_SPAWN_STEP_NONE};
    int child_pidfd = -1;
    // Signals must not run handlers on the shared stack while the child sets itself up.
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &previous);
    pid_t child = clone(child_main, (char *)stack + stack_size, CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD,
                        &context, &child_pidfd);
    int clone_errno = errno;
    pthread_sigmask(SIG_SETMASK, &previous, NULL);

    if (child < 0) {
        *failed_step = DCROND_SPAWN_STEP_CLONE;
        return clone_errno;
    }
    if (context.step != DCROND_SPAWN_STEP_NONE) {
        // The child failed before exec and has exited: reap it here.
        siginfo_t info;
        while (waitid(P_PIDFD, (id_t)child_pidfd, &info, WEXITED) < 0 && errno == EINTR) {}
        close(child_pidfd);
        *failed_step = context.step;
        return context.error;
    }
    // pidfds from CLONE_PIDFD are close-on-exec already.
    *pid = child;
    *pidfd = child_pidfd;
    *failed_step = DCROND_SPAWN_STEP_NONE;
    return 0;
}

int dcrond_pidfd_reap(int pidfd, int *exited, int *code, int *signaled) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    int result;
    do {
        result = waitid(P_PIDFD, (id_t)pidfd, &info, WEXITED | WNOHANG);
    } while (result < 0 && errno == EINTR);
    if (result < 0) return -1;
    if (info.si_pid == 0) return 0;
    *exited = 1;
    *signaled = info.si_code == CLD_KILLED || info.si_code == CLD_DUMPED;
    *code = info.si_status;
    return 1;
}

int dcrond_kill_group(pid_t pgid, int signal) {
    return kill(-pgid, signal) < 0 ? errno : 0;
}

int dcrond_pipe_cloexec(int fds[2]) {
    return pipe2(fds, O_CLOEXEC) < 0 ? errno : 0;
}

extern char **environ;

/// env_start and env_end, fields 50 and 51 of /proc/self/stat (Linux 3.5 and later).
static int environment_block(unsigned long *start, unsigned long *end) {
    char buffer[4096];
    int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t length = read(fd, buffer, sizeof buffer - 1);
    close(fd);
    if (length <= 0) return -1;
    buffer[length] = 0;
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    char *cursor = strrchr(buffer, ')');
    if (cursor == NULL) return -1;
    cursor++;
    for (int field = 3; field < 50; field++) {
        cursor = strchr(cursor + 1, ' ');
        if (cursor == NULL) return -1;
    }
    if (sscanf(cursor, " %lu %lu", start, end) != 2 || *end <= *start) return -1;
    return 0;
}

int dcrond_scrub_environment(const char *const *keep, size_t keep_count) {
    size_t count = 0;
    while (environ != NULL && environ[count] != NULL) count++;
    char **kept = calloc(count + 1, sizeof *kept);
    size_t kept_count = 0;
    for (size_t i = 0; kept != NULL && i < count; i++) {
        for (size_t j = 0; j < keep_count; j++) {
            size_t length = strlen(keep[j]);
            if (strncmp(environ[i], keep[j], length) == 0 && environ[i][length] == '=') {
                char *copy = strdup(environ[i]);
                if (copy != NULL) kept[kept_count++] = copy;
                break;
            }
        }
    }
    unsigned long start = 0, end = 0;
    int found = environment_block(&start, &end);
    clearenv();
    if (found == 0) memset((void *)start, 0, end - start);
    // putenv keeps the heap copies themselves: they live as long as the process.
    for (size_t i = 0; i < kept_count; i++) (void)putenv(kept[i]);
    free(kept);
    return found;
}
