#ifndef DCROND_SYSTEM_H
#define DCROND_SYSTEM_H

#include <stddef.h>
#include <sys/types.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>

/// Names the calling thread (shown by `top -H`, `ps -L`); truncated to 15 bytes.
void dcrond_set_thread_name(const char *name);

/// glibc's malloc_trim(0): gives freed pages of every arena back to the system (not in Swift's
/// Glibc module). Returns 1 if memory was released.
int dcrond_malloc_trim(void);

/// Sets the calling thread's timer slack (prctl PR_SET_TIMERSLACK): how late the kernel may wake
/// a sleep to batch wake-ups; the default is 50 µs.
void dcrond_set_timer_slack(unsigned long nanoseconds);

/// What a child needs between fork and exec. Everything is prepared by the parent: the child only
/// makes system calls, because it shares the parent's memory until it executes.
typedef struct {
    /// Absolute (or working-directory-relative) path of the program to execute.
    const char *path;
    /// NULL-terminated.
    char *const *argv;
    /// NULL-terminated; the child's whole environment.
    char *const *envp;
    /// NULL: stay in the daemon's working directory.
    const char *working_directory;
    /// Become descriptors 0, 1 and 2 of the child.
    int stdin_fd;
    int stdout_fd;
    int stderr_fd;
    /// Non-zero: switch to uid/gid with the supplementary groups below (the daemon must be root).
    int change_identity;
    uid_t uid;
    gid_t gid;
    const gid_t *groups;
    size_t group_count;
    /// The child's file-creation mask.
    mode_t umask;
    /// Non-zero: the child's RLIMIT_NOFILE (soft, hard). The daemon raises its own soft limit to
    /// the hard one; children get back the limit it started with, as programs using select()
    /// expect descriptors below 1024.
    unsigned long long descriptor_soft_limit;
    unsigned long long descriptor_hard_limit;
    /// Bit n-1 set: signal n has a disposition other than SIG_DFL in the daemon and is reset in the
    /// child (see dcrond_signals_not_default). All bits set: every signal is reset.
    unsigned long long reset_signals;
    /// Non-zero: the child, set up, waits until the wall clock reads this (Unix nanoseconds) and
    /// only then executes, so that at the instant only the exec is left; one more than 1 s away
    /// (the clock was set back) is not waited for.
    long long not_before;
    /// Read by a waiting child: once non-zero, it gives up (step WAIT, ECANCELED) instead of
    /// executing. Set with dcrond_flag_set.
    const int *cancelled;
    /// Another such flag, or NULL (one start's own, where `cancelled` is every start's).
    const int *cancelled_too;
} dcrond_spawn_request;

/// Sets `*flag` to 1, atomically (release), for a child reading it (dcrond_spawn_request.cancelled).
void dcrond_flag_set(int *flag);

/// The signals (bit n-1 for signal n) whose disposition in this process is not SIG_DFL: handled
/// or ignored. Only those need a reset in a child, which then makes a dozen system calls instead
/// of 62 between its clone and its exec. Computed by the parent before the spawn (for a start
/// prepared ahead of its instant, before the wait).
unsigned long long dcrond_signals_not_default(void);

/// How old dcrond_signals_not_default_recent's answer may be: 20 ms.
#define DCROND_SIGNALS_MAX_AGE_NS 20000000LL

/// dcrond_signals_not_default as this thread read it at most DCROND_SIGNALS_MAX_AGE_NS ago and
/// after the last dcrond_signals_changed: a disposition changed without that call (by a library)
/// reaches the resets of the children this thread spawns at most that much later. Spawns farther
/// apart read afresh; only a burst of starts reuses a reading.
unsigned long long dcrond_signals_not_default_recent(void);

/// Tells dcrond_signals_not_default_recent that a disposition changed (SIGPIPE ignored at the first
/// Redis connection, which may come during a burst of starts): the next spawn on every thread reads
/// the dispositions again.
void dcrond_signals_changed(void);

/// Which step of the child's set-up failed, for the error message.
enum dcrond_spawn_step {
    DCROND_SPAWN_STEP_NONE = 0,
    DCROND_SPAWN_STEP_CLONE,
    DCROND_SPAWN_STEP_SETSID,
    DCROND_SPAWN_STEP_SIGNALS,
    DCROND_SPAWN_STEP_STDIO,
    DCROND_SPAWN_STEP_SETGROUPS,
    DCROND_SPAWN_STEP_SETGID,
    DCROND_SPAWN_STEP_SETUID,
    DCROND_SPAWN_STEP_CHDIR,
    DCROND_SPAWN_STEP_CLOSE,
    DCROND_SPAWN_STEP_EXEC,
    DCROND_SPAWN_STEP_WAIT,
};

/// Starts a child in a new session (so its process group id is its pid), with every signal at
/// its default disposition and an empty signal mask, stdio from the request, no other descriptor
/// open, the default timer slack, and the requested identity and working directory; then, once
/// `not_before` has come, executes `path`.
///
/// Returns 0 with the child's pid and a pidfd for it (close-on-exec), or an errno value with the
/// step that failed. A failure after the clone is reported only once the child has exited, and
/// that child is reaped here, so the caller has nothing to wait for.
int dcrond_spawn(const dcrond_spawn_request *request, pid_t *pid, int *pidfd, int *failed_step);

/// Waits for the child behind `pidfd` without blocking: returns 1 and fills the status if it has
/// exited (reaping it), 0 if it is still running, -1 with errno on error.
/// `code` is the exit status, or the signal number when `signaled` is set.
int dcrond_pidfd_reap(int pidfd, int *exited, int *code, int *signaled);

/// pipe2(fds, O_CLOEXEC): a pipe whose ends no child inherits; returns 0 or errno.
int dcrond_pipe_cloexec(int fds[2]);

/// Sends `signal` to the process group `pgid` (kill(-pgid, signal)); returns 0 or errno.
int dcrond_kill_group(pid_t pgid, int signal);

/// Drops the process's environment but for the variables named in `keep`, and zeroes the block the
/// kernel shows in /proc/PID/environ (the strings the process started with, which clearenv() alone
/// leaves in memory). The kept variables move to the heap, where /proc does not show them. Call it
/// before other threads may read the environment. Returns 0, or -1 if the block could not be found
/// (the environment is then still cleared).
int dcrond_scrub_environment(const char *const *keep, size_t keep_count);

#endif
