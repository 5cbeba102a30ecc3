// process_exec: every exec on the machine, one event each, through a ring buffer.
// Tracepoint only (no kprobes here): sched:sched_process_exec fires in the new program's
// context once execve() has replaced the image, so comm is already the new program's name and
// `filename` is the path that was executed (the one of execve's PATH attempts that worked).
//
// The chain of ancestors (parent first, up to MAX_ANCESTORS tgids) is read from the current
// task's real_parent pointers so that user space can tell whose descendant an exec is without
// racing the process's exit. struct task_struct comes from headers older than the kernel, so
// its field offsets are passed in from the kernel's BTF (ebpf/btf.py):
//   TASK_REAL_PARENT_OFF  task_struct.real_parent   (struct task_struct *)
//   TASK_TGID_OFF         task_struct.tgid          (pid_t)
//
// An event that does not fit in the ring buffer is counted in `lost[0]`, never dropped
// silently: a reader that must see every exec checks it.

#define MAX_ANCESTORS 12
#define FILENAME_LEN 256
#define COMM_LEN 16

struct exec_event {
    u32 pid;      // tgid of the process that exec'd (after exec, pid == tgid)
    u32 old_pid;  // the thread id before exec (differs when a non-leader thread exec'd)
    u32 uid;
    u32 depth;    // how many entries of ancestors are filled
    u64 ts_ns;    // bpf_ktime_get_ns(), CLOCK_MONOTONIC
    u32 ancestors[MAX_ANCESTORS];
    char comm[COMM_LEN];
    char filename[FILENAME_LEN];
};

BPF_RINGBUF_OUTPUT(events, 256);  // pages: 1 MiB, about 3,000 events between reads
BPF_ARRAY(lost, u64, 1);

TRACEPOINT_PROBE(sched, sched_process_exec)
{
    struct exec_event *event = events.ringbuf_reserve(sizeof(struct exec_event));
    if (!event) {
        int zero = 0;
        u64 *count = lost.lookup(&zero);
        if (count)
            __sync_fetch_and_add(count, 1);
        return 0;
    }
    event->pid = bpf_get_current_pid_tgid() >> 32;
    event->old_pid = args->old_pid;
    event->uid = (u32)bpf_get_current_uid_gid();
    event->ts_ns = bpf_ktime_get_ns();
    bpf_get_current_comm(&event->comm, sizeof(event->comm));
    // __data_loc: the low 16 bits are the string's offset from the start of the record.
    unsigned short filename_at = args->data_loc_filename & 0xFFFF;
    bpf_probe_read_kernel_str(&event->filename, sizeof(event->filename),
                              (const char *)args + filename_at);

    const char *task = (const char *)bpf_get_current_task();
    u32 depth = 0;
#pragma unroll
    for (int i = 0; i < MAX_ANCESTORS; i++) {
        const char *parent = 0;
        bpf_probe_read_kernel(&parent, sizeof(parent), task + TASK_REAL_PARENT_OFF);
        if (!parent || parent == task)
            break;  // the top: init's (and the idle task's) real_parent is itself
        u32 tgid = 0;
        bpf_probe_read_kernel(&tgid, sizeof(tgid), parent + TASK_TGID_OFF);
        event->ancestors[i] = tgid;
        depth = i + 1;
        if (tgid <= 1)
            break;
        task = parent;
    }
    event->depth = depth;
    events.ringbuf_submit(event, 0);
    return 0;
}
