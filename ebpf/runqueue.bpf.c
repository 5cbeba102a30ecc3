// runqueue: how long the scoped processes' threads wait runnable for a CPU.
// Tracepoints only (no kprobes here): sched:sched_wakeup / sched_wakeup_new put a task on the
// run queue, sched:sched_switch takes it off (next_pid); the time between is the wait.
//
// Scoping by process: the wakeup tracepoints name the woken thread (pid = tid) but not its
// process, and they run in the waker's context. A thread's process is only known while the
// thread itself is current, which at sched_switch is prev. So a scoped thread is learned when
// it leaves a CPU: going to sleep, it is marked in `sleeping` and its next wakeup starts the
// clock; preempted (still runnable), the clock starts at once. New tasks (wakeup_new) count
// when their creator is in scope. A thread asleep since before attach counts from its
// second wakeup on.
//
// cflags: -DFILTER_PIDS=1 (tgids in scope_pids), -DFILTER_CGROUPS=1 (cgroup v2 ids in
// scope_cgroups); neither: every task on the host (scope.bpf.h).
//
// Output, cleared by the reader every interval (latency.bpf.h): totals[0] (count, summed wait
// in ns) and hist, a log2 histogram of the wait in microseconds keyed by slot.

// prev_state: the low byte holds the sleep state (0 = runnable); preemption sets the bit
// above it (TASK_REPORT_MAX), which is still runnable.
#define STATE_SLEEP_MASK 0xff

#include "scope.bpf.h"
#include "latency.bpf.h"

BPF_HASH(sleeping, u32, u8, 16384);  // scoped threads asleep, by tid
BPF_HASH(queued, u32, u64, 16384);   // scoped threads runnable since ts, by tid

TRACEPOINT_PROBE(sched, sched_wakeup)
{
    u32 tid = args->pid;
    if (!sleeping.lookup(&tid))
        return 0;
    sleeping.delete(&tid);
    u64 ts = bpf_ktime_get_ns();
    queued.update(&tid, &ts);
    return 0;
}

TRACEPOINT_PROBE(sched, sched_wakeup_new)
{
    // Runs in the creator's context: a child or thread of a scoped process.
    if (!current_in_scope())
        return 0;
    u32 tid = args->pid;
    u64 ts = bpf_ktime_get_ns();
    queued.update(&tid, &ts);
    return 0;
}

TRACEPOINT_PROBE(sched, sched_switch)
{
    u64 now = bpf_ktime_get_ns();
    u32 prev = args->prev_pid;
    if (prev != 0 && current_in_scope()) {
        if ((args->prev_state & STATE_SLEEP_MASK) == 0) {
            queued.update(&prev, &now);  // preempted: waiting for a CPU from now on
        } else {
            u8 one = 1;
            sleeping.update(&prev, &one);
        }
    }
    u32 next = args->next_pid;
    if (next == 0)
        return 0;  // the idle task
    u64 *since = queued.lookup(&next);
    if (!since)
        return 0;
    u64 delta = now - *since;
    queued.delete(&next);
    record_latency(delta);
    return 0;
}

TRACEPOINT_PROBE(sched, sched_process_exit)
{
    // The exiting thread is current: forget it so the maps do not fill with dead tids.
    u32 tid = bpf_get_current_pid_tgid();
    sleeping.delete(&tid);
    queued.delete(&tid);
    return 0;
}
