// tcp: TCP retransmits, resets sent/received and active connects (count, failures, latency),
// kept only for sockets in the network namespaces of the drill's targets.
//
// Raw tracepoints (this kernel has no kprobes): tcp_retransmit_skb, tcp_send_reset,
// tcp_receive_reset, inet_sock_set_state. A raw tracepoint's program gets the tracepoint's own
// C arguments (ctx->args[i], in the order of its TP_PROTO) and detaches at once when its
// descriptor closes; a classic tracepoint's detach waits for the kernel's grace period, which
// an agent paid every time a run gave its collectors back. Which of them are compiled in is
// chosen by the loader (ebpf/tcp.py) with -DWANT_RETRANSMITS / -DWANT_RESETS / -DWANT_CONNECT.
//
// Struct offsets come from the running kernel's BTF as -D flags (the headers bcc compiles
// against are older than the kernel, so their struct layouts cannot be trusted):
//   SK_NET_OFF       struct sock_common.skc_net.net   (struct net *)
//   SK_PROTOCOL_OFF  struct sock.sk_protocol          (u16)
//   NET_INUM_OFF     struct net.ns.inum               (u32, the inode of /proc/PID/ns/net)
//   SKB_DEV_OFF      struct sk_buff.dev               (struct net_device *)
//   DEV_NET_OFF      struct net_device.nd_net.net     (struct net *)
// FILTER_NETNS=1 keeps only namespaces listed in scope_netns; 0 keeps all.

#define IPPROTO_TCP_ 6
#define TCP_ESTABLISHED_ 1
#define TCP_SYN_SENT_ 2
#define TCP_CLOSE_ 7

// Slots of the counters map; the loader reads them by the same numbers.
#define C_RETRANSMITS 0
#define C_RESETS_SENT 1
#define C_RESETS_RECEIVED 2
#define C_CONNECT_ATTEMPTS 3
#define C_CONNECTS 4
#define C_CONNECT_FAILURES 5
#define C_CONNECT_LATENCY_NS 6

BPF_HASH(scope_netns, u32, u8, 64);
// Hash maps (not arrays) so the loader can read and delete them in one batch per interval.
BPF_HASH(counters, u32, u64, 16);
BPF_HASH(connect_hist, u32, u64, 64);   // log2 slot of the latency in microseconds -> count
BPF_HASH(connect_start, u64, u64, 10240); // socket address -> ktime of entering SYN_SENT

static __always_inline u32 net_inum(const void *net)
{
    u32 inum = 0;
    if (net)
        bpf_probe_read_kernel(&inum, sizeof(inum), (const char *)net + NET_INUM_OFF);
    return inum;
}

// Network namespace inode of a socket (any kind that starts with sock_common: full,
// request or timewait), or 0 when it cannot be read.
static __always_inline u32 sk_netns(const void *sk)
{
    const void *net = 0;
    if (!sk)
        return 0;
    bpf_probe_read_kernel(&net, sizeof(net), (const char *)sk + SK_NET_OFF);
    return net_inum(net);
}

// Namespace of a received packet, through the device it arrived on (for resets sent with no
// socket, such as a SYN to a closed port).
static __always_inline u32 skb_netns(const void *skb)
{
    const void *dev = 0;
    const void *net = 0;
    if (!skb)
        return 0;
    bpf_probe_read_kernel(&dev, sizeof(dev), (const char *)skb + SKB_DEV_OFF);
    if (!dev)
        return 0;
    bpf_probe_read_kernel(&net, sizeof(net), (const char *)dev + DEV_NET_OFF);
    return net_inum(net);
}

static __always_inline int in_scope(u32 inum)
{
#if FILTER_NETNS
    return inum && scope_netns.lookup(&inum) != 0;
#else
    return 1;
#endif
}

static __always_inline void add(u32 slot, u64 n)
{
    u64 zero = 0;
    u64 *value = counters.lookup_or_try_init(&slot, &zero);
    if (value)
        __sync_fetch_and_add(value, n);
}

// The tracepoints' arguments (include/trace/events/tcp.h, sock.h):
//   tcp_retransmit_skb(const struct sock *sk, const struct sk_buff *skb, ...)
//   tcp_send_reset(const struct sock *sk, const struct sk_buff *skb, ...)
//   tcp_receive_reset(struct sock *sk)
//   inet_sock_set_state(const struct sock *sk, const int oldstate, const int newstate)
#define ARG_PTR(i) ((const void *)ctx->args[i])

#if WANT_RETRANSMITS
RAW_TRACEPOINT_PROBE(tcp_retransmit_skb)
{
    if (in_scope(sk_netns(ARG_PTR(0))))
        add(C_RETRANSMITS, 1);
    return 0;
}
#endif

#if WANT_RESETS
RAW_TRACEPOINT_PROBE(tcp_send_reset)
{
    const void *sk = ARG_PTR(0);
    u32 inum = sk ? sk_netns(sk) : skb_netns(ARG_PTR(1));
    if (in_scope(inum))
        add(C_RESETS_SENT, 1);
    return 0;
}

RAW_TRACEPOINT_PROBE(tcp_receive_reset)
{
    if (in_scope(sk_netns(ARG_PTR(0))))
        add(C_RESETS_RECEIVED, 1);
    return 0;
}
#endif

#if WANT_CONNECT
RAW_TRACEPOINT_PROBE(inet_sock_set_state)
{
    const void *skaddr = ARG_PTR(0);
    u16 protocol = 0;
    if (!skaddr)
        return 0;
    bpf_probe_read_kernel(&protocol, sizeof(protocol), (const char *)skaddr + SK_PROTOCOL_OFF);
    if (protocol != IPPROTO_TCP_)
        return 0;
    u64 sk = (u64)skaddr;
    int oldstate = (int)ctx->args[1];
    int newstate = (int)ctx->args[2];
    if (newstate == TCP_SYN_SENT_) {
        if (!in_scope(sk_netns(skaddr)))
            return 0;
        u64 now = bpf_ktime_get_ns();
        connect_start.update(&sk, &now);
        add(C_CONNECT_ATTEMPTS, 1);
        return 0;
    }
    if (oldstate != TCP_SYN_SENT_)
        return 0;
    // Only sockets whose SYN_SENT was seen in scope have a start time.
    u64 *started = connect_start.lookup(&sk);
    if (!started)
        return 0;
    u64 delta = bpf_ktime_get_ns() - *started;
    connect_start.delete(&sk);
    if (newstate == TCP_ESTABLISHED_) {
        add(C_CONNECTS, 1);
        add(C_CONNECT_LATENCY_NS, delta);
        u32 slot = bpf_log2l(delta / 1000);
        u64 zero = 0;
        u64 *count = connect_hist.lookup_or_try_init(&slot, &zero);
        if (count)
            __sync_fetch_and_add(count, 1);
    } else if (newstate == TCP_CLOSE_) {
        add(C_CONNECT_FAILURES, 1);
    }
    return 0;
}
#endif
