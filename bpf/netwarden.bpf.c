// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Netwarden's data plane: who owns a socket, recorded when the program creates or uses
 * it, and published by exact 5-tuple before netfilter queues the flow's first packet.
 *
 *   cgroup/sock_create            owners[cookie] = the creating process (sock_release drops it)
 *   cgroup/connect4/6, sendmsg4/6 owners[cookie] = the using process, if not the recorded one
 *   exes[tgid, start, exec]       the executable's path, walked from its dentry once per image
 *   netfilter LOCAL_OUT -199      flows[5-tuple] = owners[the sending socket's cookie], for new
 *                                 flows only; "the kernel" for a socket the kernel made itself
 *
 * The helper reads flows[] (and exes[]) from its queue callback: O(1), and still there
 * when the process has already closed the socket or exited. See docs/packet-path.md.
 *
 * Bytes (docs/history.md): the helper names the flows it accounts in traffic[5-tuple];
 * cgroup_skb egress/ingress add each packet's length there (socket_flows[cookie] notes
 * the socket's flow, so sock_release can mark it closed); `counted` says whether
 * anything was added since the helper last read.
 *
 * Kernel verdicts (docs/kernel-verdicts.md): the helper copies a decided flow's verdict
 * into verdicts[program, user, cgroup, root, destination, port], stamped with the rule
 * set's generation. At connect4/6 and sendmsg4/6 a current entry decides without the
 * queue: a deny refuses the system call (EPERM); a TCP allow gives the socket the run's
 * "decided" mark, which Netwarden's queue rule lets pass. Each such decision is told to
 * the helper through the `decisions` ring buffer (an allow from LOCAL_OUT, with the
 * flow's source port), so history and hit counts stay whole.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL"; /* bpf_probe_read_kernel and current task are GPL-only */

#define NFPROTO_IPV4 2
#define NFPROTO_IPV6 10
#define NF_ACCEPT 1
#define CT_INFO_MASK 7
#define CT_NEW 2
#define CT_UNTRACKED 7
#define IPPROTO_ICMPV6_ 58
#define TCP_SYN 0x02
#define TCP_ACK 0x10
#define IP_OFFSET 0x1fff
#define ETH_P_IP_ 0x0800
#define ETH_P_IPV6_ 0x86DD

#define EXE_LEN 256   /* the path as stored: its components leaf first, each NUL-ended */
#define EXE_DEPTH 40  /* folders walked at most; deeper is "truncated" */
#define EXE_COMPLETE 1
#define EXE_DELETED 2
#define SOL_SOCKET_ 1
#define SO_MARK_ 36
#define SOCK_STREAM_ 1
#define NO_UID 0xffffffff
#define CTIME_QUERIED (1U << 31)
#define ALLOW 1
#define DENY 2

/* The executable a process runs, as a cached verdict may name it: its file (device,
 * inode, and what changes with its content) and the path it was run by (its dentry, and
 * its mount's root and mountpoint: a hard link or another mount of it is another program
 * to the rules, while the copy of the same mount in another mount namespace, which every
 * sandboxed service and container has, is not). */
struct exe_id {
	__u64 ino, size;
	__s64 mtime_sec, ctime_sec;
	__u32 mtime_nsec, ctime_nsec;
	__u32 dev, _pad;
	__u64 dentry, mnt_root, mountpoint;
};

struct owner {
	__u64 cgroup_id;
	__u64 start_ns;  /* the process's start (boot time ns): tells a reused pid apart */
	__u64 exec_id;   /* the task's exec count: tells an exec'd image apart */
	__u64 root_ino;  /* the process's root folder (a container, a chroot: another one) */
	__u32 root_dev;
	__u32 tgid, pid; /* as the helper's pid namespace numbers them; 0: not in it */
	__u32 uid, gid;
	__u32 global_tgid;
	char comm[16];
	__u32 sock_uid; /* the socket's uid, from its creator; NO_UID: created before us */
	__u32 _pad;
	struct exe_id exe;
};

/* Written by the helper after loading: its pid namespace (nsfs device and inode), its
 * network namespace (the only one its rules are for) and the run's "decided" mark. */
struct config {
	__u64 pidns_dev, pidns_ino;
	__u64 netns_cookie;
	__u32 decided_mark, _pad;
};

struct verdict_key {
	struct exe_id exe;
	__u64 cgroup_id;
	__u64 root_ino;
	__u32 root_dev, uid;
	__u8 version, protocol;
	__u16 dport; /* host order */
	__u32 _pad;
	__u8 dst[16];
};

struct verdict {
	__u64 generation; /* the rule set's when the helper wrote it: current or void */
	__u64 expires_ns; /* bpf_ktime_get_boot_ns() after which it is void (counts suspend) */
	__u64 rule_id;
	__u8 action, _pad[7];
};

/* A flow decided here, for the helper's records. */
struct decision {
	struct verdict_key key;
	__u8 src[16]; /* zero for a refused system call: no packet was made */
	__u64 rule_id;
	__u32 tgid;
	__u16 sport;
	__u8 action, _pad;
};

struct flow_owner {
	struct owner owner;
	__u32 sock_uid;  /* the socket's uid (sk_uid), as sock_diag reports it */
	__u32 kernel;    /* 1: a socket the kernel made for itself; `owner` is all zero */
};

struct flow_key {
	__u8 version, protocol;
	__u16 sport, dport;  /* host order; for ICMP echo: identifier, type */
	__u16 _pad;
	__u8 src[16], dst[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct config);
} settings SEC(".maps");

struct exe_key {
	__u32 tgid, _pad;
	__u64 start_ns, exec_id;
};

struct exe {
	__u32 length, flags;
	char path[EXE_LEN];
};

struct scratch {
	struct exe exe;
	char spill[EXE_LEN]; /* a component read at the last offset may run past path[] */
};

/* Preallocated: a map that allocates per update can run dry under a burst of new
 * sockets, and an LRU map evicts live sockets' owners early; either way a socket would go
 * without its owner. An entry lives as long as its socket (sock_release). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 16);
	__type(key, __u64);
	__type(value, struct owner);
} owners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1 << 14);
	__type(key, struct flow_key);
	__type(value, struct flow_owner);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1 << 12);
	__type(key, struct exe_key);
	__type(value, struct exe);
} exes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct scratch);
} scratches SEC(".maps");

/* The current rule set's generation, set by the helper; 0: kernel verdicts are off. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} generation SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1 << 14);
	__type(key, struct verdict_key);
	__type(value, struct verdict);
} verdicts SEC(".maps");

/* Sockets given the decided mark at connect, until LOCAL_OUT sees their first packet. */
struct allowed {
	struct verdict_key key;
	__u64 rule_id;
	__u32 tgid, _pad;
};

/* Not an LRU: an entry evicted early would let a marked SYN pass unrecorded. One lives
 * from the connect to the first packet (or the socket's release); when the map is full
 * the connect is left to the queue. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1 << 14);
	__type(key, __u64);
	__type(value, struct allowed);
} allowed_sockets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} decisions SEC(".maps");

/* Decisions the ring had no room for (a flood of refused calls): counted, for the status. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} untold SEC(".maps");

/* A flow the helper accounts: bytes each way as the IP layer counts them (conntrack's
 * measure), from when the helper named it. */
struct traffic {
	__u64 bytes_out, bytes_in;
	__u64 since_ns; /* written by the helper: tells a reused tuple's flows apart */
	__u32 closed, _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1 << 16);
	__type(key, struct flow_key);
	__type(value, struct traffic);
} traffic SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1 << 16);
	__type(key, __u64);
	__type(value, struct flow_key);
} socket_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} counted SEC(".maps");

/* One step of the walk from the executable's dentry up to the process's root. */
struct walk {
	struct exe *exe;
	struct dentry *dentry, *root_dentry;
	struct vfsmount *vfsmnt, *root_mnt;
	struct mount *mnt;
	__u32 offset;
};

static long walk_step(__u64 index, struct walk *walk)
{
	struct dentry *dentry = walk->dentry;
	struct vfsmount *vfsmnt = walk->vfsmnt;
	struct mount *mnt = walk->mnt;
	struct dentry *parent = BPF_CORE_READ(dentry, d_parent);

	if (dentry == walk->root_dentry && vfsmnt == walk->root_mnt) {
		walk->exe->flags |= EXE_COMPLETE;
		return 1;
	}
	if (dentry == BPF_CORE_READ(vfsmnt, mnt_root) || dentry == parent) {
		struct mount *mnt_parent = BPF_CORE_READ(mnt, mnt_parent);

		if (mnt_parent == mnt) { /* the namespace's root, outside a chroot */
			walk->exe->flags |= EXE_COMPLETE;
			return 1;
		}
		walk->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		walk->mnt = mnt_parent;
		walk->vfsmnt = (struct vfsmount *)((char *)mnt_parent +
						   bpf_core_field_offset(struct mount, mnt));
		return 0;
	}
	if (walk->offset >= EXE_LEN)
		return 1;
	long read = bpf_probe_read_kernel_str(&walk->exe->path[walk->offset & (EXE_LEN - 1)],
					      EXE_LEN, BPF_CORE_READ(dentry, d_name.name));
	if (read <= 0)
		return 1;
	walk->offset += read;
	walk->dentry = parent;
	return 0;
}

/* The executable's path as the process sees it: from its dentry up to the process's
 * root (crossing mounts), as d_path does; stored leaf first, the helper reverses it. */
static __always_inline void read_exe(struct task_struct *task, struct exe *exe)
{
	struct file *file = BPF_CORE_READ(task, mm, exe_file);
	struct vfsmount *vfsmnt = BPF_CORE_READ(file, f_path.mnt);
	struct dentry *dentry = BPF_CORE_READ(file, f_path.dentry);
	struct walk walk = {
		.exe = exe,
		.dentry = dentry,
		.root_dentry = BPF_CORE_READ(task, fs, root.dentry),
		.vfsmnt = vfsmnt,
		.root_mnt = BPF_CORE_READ(task, fs, root.mnt),
		.mnt = container_of(vfsmnt, struct mount, mnt),
	};

	exe->length = 0;
	exe->flags = 0;
	if (!file)
		return;
	if (!BPF_CORE_READ(dentry, d_hash.pprev))
		exe->flags |= EXE_DELETED;
	bpf_loop(EXE_DEPTH, walk_step, &walk, 0);
	if (walk.offset > EXE_LEN) { /* the last component did not fit */
		exe->flags &= ~EXE_COMPLETE;
		walk.offset = EXE_LEN;
	}
	exe->length = walk.offset;
}

/* Before 6.11 the times were timespec64 fields. */
struct inode___timespec {
	struct timespec64 i_mtime;
	struct timespec64 __i_ctime;
};

static __always_inline void read_exe_id(struct task_struct *task, struct exe_id *id)
{
	struct file *file = BPF_CORE_READ(task, mm, exe_file);
	struct inode *inode = BPF_CORE_READ(file, f_inode);

	if (!file)
		return;
	id->ino = BPF_CORE_READ(inode, i_ino);
	id->size = BPF_CORE_READ(inode, i_size);
	id->dev = BPF_CORE_READ(inode, i_sb, s_dev);
	struct vfsmount *vfsmnt = BPF_CORE_READ(file, f_path.mnt);

	id->dentry = (__u64)BPF_CORE_READ(file, f_path.dentry);
	id->mnt_root = (__u64)BPF_CORE_READ(vfsmnt, mnt_root);
	id->mountpoint = (__u64)BPF_CORE_READ(container_of(vfsmnt, struct mount, mnt), mnt_mountpoint);
	if (bpf_core_field_exists(inode->i_mtime_sec)) {
		id->mtime_sec = BPF_CORE_READ(inode, i_mtime_sec);
		id->mtime_nsec = BPF_CORE_READ(inode, i_mtime_nsec);
		id->ctime_sec = BPF_CORE_READ(inode, i_ctime_sec);
		/* bit 31 says whether the ctime was read since (multigrain timestamps) */
		id->ctime_nsec = BPF_CORE_READ(inode, i_ctime_nsec) & ~CTIME_QUERIED;
	} else {
		struct inode___timespec *old = (void *)inode;

		id->mtime_sec = BPF_CORE_READ(old, i_mtime.tv_sec);
		id->mtime_nsec = BPF_CORE_READ(old, i_mtime.tv_nsec);
		id->ctime_sec = BPF_CORE_READ(old, __i_ctime.tv_sec);
		id->ctime_nsec = BPF_CORE_READ(old, __i_ctime.tv_nsec);
	}
}

static __always_inline void record(__u64 cookie, __u32 sock_uid)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u64 uid_gid = bpf_get_current_uid_gid();
	__u32 zero = 0;
	struct config *config = bpf_map_lookup_elem(&settings, &zero);
	struct bpf_pidns_info in_ns = {};
	struct owner owner = {
		.cgroup_id = bpf_get_current_cgroup_id(),
		.start_ns = BPF_CORE_READ(task, group_leader, start_boottime),
		.exec_id = BPF_CORE_READ(task, self_exec_id),
		.uid = (__u32)uid_gid,
		.gid = uid_gid >> 32,
		.root_ino = BPF_CORE_READ(task, fs, root.dentry, d_inode, i_ino),
		.root_dev = BPF_CORE_READ(task, fs, root.dentry, d_inode, i_sb, s_dev),
		.global_tgid = bpf_get_current_pid_tgid() >> 32,
		.sock_uid = sock_uid,
	};

	if (config && !bpf_get_ns_current_pid_tgid(config->pidns_dev, config->pidns_ino, &in_ns,
						     sizeof(in_ns))) {
		owner.tgid = in_ns.tgid;
		owner.pid = in_ns.pid;
	}
	struct exe_key key = {.tgid = owner.global_tgid, .start_ns = owner.start_ns,
			      .exec_id = owner.exec_id};

	/* the process's name: the current thread may be one of its io_uring workers */
	BPF_CORE_READ_STR_INTO(&owner.comm, task, group_leader, comm);
	read_exe_id(task, &owner.exe);
	bpf_map_update_elem(&owners, &cookie, &owner, BPF_ANY);
	if (bpf_map_lookup_elem(&exes, &key))
		return;
	struct scratch *scratch = bpf_map_lookup_elem(&scratches, &zero);
	if (!scratch)
		return;
	read_exe(task, &scratch->exe);
	bpf_map_update_elem(&exes, &key, &scratch->exe, BPF_NOEXIST);
}

/* A socket used by another process than the one recorded (handed over, inherited), or
 * by the same after it exec'd another program or moved to another cgroup (unit). */
static __always_inline void used(__u64 cookie)
{
	struct owner *owner = bpf_map_lookup_elem(&owners, &cookie);
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	if (!owner || owner->global_tgid != bpf_get_current_pid_tgid() >> 32 ||
	    owner->exec_id != BPF_CORE_READ(task, self_exec_id) ||
	    owner->cgroup_id != bpf_get_current_cgroup_id())
		record(cookie, owner ? owner->sock_uid : NO_UID);
}

SEC("cgroup/sock_create")
int sock_create(struct bpf_sock *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	/* a new socket's uid is its creator's filesystem uid (sock_init_data) */
	record(bpf_get_socket_cookie(ctx), BPF_CORE_READ(task, cred, fsuid.val));
	return 1;
}

/* Something for the helper to read in `traffic`. */
static __always_inline void noted(void)
{
	__u32 zero = 0;
	__u64 *changes = bpf_map_lookup_elem(&counted, &zero);

	if (changes)
		*changes += 1;
}

SEC("cgroup/sock_release")
int sock_release(struct bpf_sock *ctx)
{
	__u64 cookie = bpf_get_socket_cookie(ctx);

	struct flow_key *flow = bpf_map_lookup_elem(&socket_flows, &cookie);

	bpf_map_delete_elem(&owners, &cookie);
	bpf_map_delete_elem(&allowed_sockets, &cookie);
	if (flow) {
		struct traffic *counts = bpf_map_lookup_elem(&traffic, flow);

		if (counts)
			counts->closed = 1;
		bpf_map_delete_elem(&socket_flows, &cookie);
		noted();
	}
	return 1;
}

static __always_inline void tell(struct verdict_key *key, __u8 action, __u64 rule_id,
				  __u32 tgid, __u8 *src, __u16 sport)
{
	struct decision *told = bpf_ringbuf_reserve(&decisions, sizeof(*told), 0);

	if (!told) { /* the helper is far behind: counted unrecorded, never undecided */
		__u32 zero = 0;
		__u64 *lost = bpf_map_lookup_elem(&untold, &zero);

		if (lost)
			*lost += 1;
		return;
	}
	told->key = *key;
	__builtin_memcpy(told->src, src, 16);
	told->rule_id = rule_id;
	told->tgid = tgid;
	told->sport = sport;
	told->action = action;
	bpf_ringbuf_submit(told, 0);
}

/* The cached verdict for a connect or an unconnected send by the socket's recorded
 * owner to the address in `ctx`, or 0 (ask the queue); `key` filled for `tell`. */
static __always_inline struct verdict *cached(struct bpf_sock_addr *ctx, const int v6,
					       __u64 cookie, struct config *config,
					       struct verdict_key *key)
{
	__u32 zero = 0;
	__u64 *current = bpf_map_lookup_elem(&generation, &zero);
	struct owner *owner = bpf_map_lookup_elem(&owners, &cookie);

	if (!current || !*current || !owner || owner->sock_uid == NO_UID || !owner->exe.ino)
		return 0;
	if (bpf_get_netns_cookie(ctx) != config->netns_cookie)
		return 0; /* another network namespace: not this helper's to decide */
	key->exe = owner->exe;
	key->cgroup_id = owner->cgroup_id;
	key->root_ino = owner->root_ino;
	key->root_dev = owner->root_dev;
	key->uid = owner->sock_uid;
	key->protocol = ctx->protocol;
	key->dport = bpf_ntohs(ctx->user_port);
	if (!v6) { /* the verifier lets each hook read its own family's address only */
		key->version = 4;
		__builtin_memcpy(key->dst, &ctx->user_ip4, 4);
	} else {
		key->version = 6;
		__u32 ip6[4] = {ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2],
				ctx->user_ip6[3]};
		__builtin_memcpy(key->dst, ip6, 16);
	}
	struct verdict *verdict = bpf_map_lookup_elem(&verdicts, key);

	if (!verdict || verdict->generation != *current || verdict->expires_ns < bpf_ktime_get_boot_ns())
		return 0;
	return verdict;
}

/* connect4/6 and sendmsg4/6: note who uses the socket, then decide from the cache. A
 * deny refuses the call; an allow of a TCP connect marks the socket so the SYN passes the
 * queue rule (a UDP datagram's mark is taken before this hook runs: those stay queued). */
static __always_inline int decide(struct bpf_sock_addr *ctx, const int v6)
{
	__u64 cookie = bpf_get_socket_cookie(ctx);
	__u32 zero = 0;
	struct config *config = bpf_map_lookup_elem(&settings, &zero);
	struct verdict_key key = {};
	__u8 nowhere[16] = {};
	struct bpf_sock *sk = ctx->sk;

	used(cookie);
	if (!config || !sk)
		return 1;
	struct verdict *verdict = cached(ctx, v6, cookie, config, &key);
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u32 mark = sk->mark;

	if (verdict && verdict->action == DENY) {
		tell(&key, DENY, verdict->rule_id, tgid, nowhere, 0);
		return 0;
	}
	if (verdict && ctx->type == SOCK_STREAM_ && (mark == 0 || mark == config->decided_mark)) {
		struct allowed allowed = {.key = key, .rule_id = verdict->rule_id, .tgid = tgid};
		__u32 decided = config->decided_mark;

		if (bpf_map_update_elem(&allowed_sockets, &cookie, &allowed, BPF_ANY))
			return 1; /* no room to tell of it: the queue decides */
		if (mark != decided &&
		    bpf_setsockopt(ctx, SOL_SOCKET_, SO_MARK_, &decided, sizeof(decided)))
			bpf_map_delete_elem(&allowed_sockets, &cookie);
	} else if (mark && mark == config->decided_mark) { /* connected again, elsewhere */
		__u32 none = 0;

		bpf_map_delete_elem(&allowed_sockets, &cookie);
		bpf_setsockopt(ctx, SOL_SOCKET_, SO_MARK_, &none, sizeof(none));
	}
	return 1;
}

SEC("cgroup/connect4")
int connect4(struct bpf_sock_addr *ctx)
{
	return decide(ctx, 0);
}

SEC("cgroup/connect6")
int connect6(struct bpf_sock_addr *ctx)
{
	return decide(ctx, 1);
}

SEC("cgroup/sendmsg4")
int sendmsg4(struct bpf_sock_addr *ctx)
{
	return decide(ctx, 0);
}

SEC("cgroup/sendmsg6")
int sendmsg6(struct bpf_sock_addr *ctx)
{
	return decide(ctx, 1);
}

/* Whether the packet may start a flow Netwarden queues: a TCP SYN, or conntrack NEW
 * (or untracked) for anything else; established traffic costs one field read. */
static __always_inline int may_be_new(struct sk_buff *skb, __u8 protocol, __u8 tcp_flags)
{
	unsigned long nfct = BPF_CORE_READ(skb, _nfct);
	__u32 info = nfct & CT_INFO_MASK;

	if (protocol == IPPROTO_TCP)
		return (tcp_flags & (TCP_SYN | TCP_ACK)) == TCP_SYN;
	return !nfct || info == CT_NEW || info == CT_UNTRACKED;
}

SEC("netfilter")
int local_out(struct bpf_nf_ctx *ctx)
{
	struct sk_buff *skb = ctx->skb;
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 network = BPF_CORE_READ(skb, network_header);
	__u8 pf = BPF_CORE_READ(ctx, state, pf);
	struct flow_key key = {};
	__u32 transport;
	__u8 ports[4] = {}, tcp_flags = 0;

	if (pf == NFPROTO_IPV4) {
		struct iphdr ip;

		if (bpf_probe_read_kernel(&ip, sizeof(ip), head + network))
			return NF_ACCEPT;
		if (bpf_ntohs(ip.frag_off) & IP_OFFSET)
			return NF_ACCEPT;
		key.version = 4;
		key.protocol = ip.protocol;
		__builtin_memcpy(key.src, &ip.saddr, 4);
		__builtin_memcpy(key.dst, &ip.daddr, 4);
		transport = network + ip.ihl * 4;
	} else if (pf == NFPROTO_IPV6) {
		struct ipv6hdr ip6;

		if (bpf_probe_read_kernel(&ip6, sizeof(ip6), head + network))
			return NF_ACCEPT;
		key.version = 6;
		key.protocol = ip6.nexthdr; /* extension headers: no ports read, no entry matches */
		__builtin_memcpy(key.src, &ip6.saddr, 16);
		__builtin_memcpy(key.dst, &ip6.daddr, 16);
		transport = network + sizeof(ip6);
	} else {
		return NF_ACCEPT;
	}
	switch (key.protocol) {
	case IPPROTO_TCP:
		bpf_probe_read_kernel(&tcp_flags, 1, head + transport + 13);
		/* fall through */
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
	case IPPROTO_SCTP:
		bpf_probe_read_kernel(ports, 4, head + transport);
		key.sport = ports[0] << 8 | ports[1];
		key.dport = ports[2] << 8 | ports[3];
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6_:
		bpf_probe_read_kernel(ports, 1, head + transport);
		bpf_probe_read_kernel(ports + 2, 2, head + transport + 4);
		key.sport = ports[2] << 8 | ports[3];
		key.dport = ports[0];
		break;
	}
	if (!may_be_new(skb, key.protocol, tcp_flags))
		return NF_ACCEPT;

	/* the socket it leaves from: skb->sk, except through a tunnel (VXLAN, WireGuard), whose
	 * packets leave from the tunnel's socket while skb->sk stays the inner packet's sender */
	struct sock *sk = BPF_CORE_READ(ctx, state, sk);
	__u64 cookie = sk ? BPF_CORE_READ(sk, __sk_common.skc_cookie.counter) : 0;
	struct allowed *allowed = cookie ? bpf_map_lookup_elem(&allowed_sockets, &cookie) : 0;

	if (allowed) { /* decided at connect: its first packet, for the records and bytes */
		struct traffic fresh = {.since_ns = bpf_ktime_get_ns()};

		bpf_map_update_elem(&traffic, &key, &fresh, BPF_ANY);
		tell(&allowed->key, ALLOW, allowed->rule_id, allowed->tgid, key.src, key.sport);
		bpf_map_delete_elem(&allowed_sockets, &cookie);
	}
	/* a full socket: only a bare SYN passes may_be_new for TCP, never a request or
	 * time-wait socket */
	struct flow_owner value = {.sock_uid = BPF_CORE_READ(sk, sk_uid.val)};

	/* made by sock_create_kern: no process owns it. Tested first: a kernel socket that
	 * connects or sends to an address (NFS, SMB) passes the cgroup hooks, which record
	 * whichever thread (a kworker) happened to run them */
	if (sk && BPF_CORE_READ_BITFIELD_PROBED(sk, sk_kern_sock)) {
		value.kernel = 1;
	} else {
		struct owner *owner = cookie ? bpf_map_lookup_elem(&owners, &cookie) : 0;

		if (!owner) { /* not ours to tell: an older entry for this tuple must not answer */
			bpf_map_delete_elem(&flows, &key);
			return NF_ACCEPT;
		}
		value.owner = *owner;
	}
	bpf_map_update_elem(&flows, &key, &value, BPF_ANY);
	return NF_ACCEPT;
}

static __always_inline int same_flow(const struct flow_key *a, const struct flow_key *b)
{
	const __u64 *x = (const __u64 *)a, *y = (const __u64 *)b;

	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3] && x[4] == y[4];
}

/* Add a packet of an accounted flow to its bytes: the flow's key is the packet's tuple,
 * turned round for one coming in (this host's address and port first). */
static __always_inline int count(struct __sk_buff *skb, const int out)
{
	struct flow_key key __attribute__((aligned(8))) = {}; /* read as words: same_flow */
	__u8 ports[4];
	__u32 transport;

	if (skb->protocol == bpf_htons(ETH_P_IP_)) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)) || bpf_ntohs(ip.frag_off) & IP_OFFSET)
			return 1;
		key.version = 4;
		key.protocol = ip.protocol;
		__builtin_memcpy(key.src, out ? &ip.saddr : &ip.daddr, 4);
		__builtin_memcpy(key.dst, out ? &ip.daddr : &ip.saddr, 4);
		transport = ip.ihl * 4;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6_)) {
		struct ipv6hdr ip6;

		if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)))
			return 1;
		key.version = 6;
		key.protocol = ip6.nexthdr;
		__builtin_memcpy(key.src, out ? &ip6.saddr : &ip6.daddr, 16);
		__builtin_memcpy(key.dst, out ? &ip6.daddr : &ip6.saddr, 16);
		transport = sizeof(ip6);
	} else {
		return 1;
	}
	if (key.protocol != IPPROTO_TCP && key.protocol != IPPROTO_UDP)
		return 1;
	if (bpf_skb_load_bytes(skb, transport, ports, 4))
		return 1;
	key.sport = out ? (ports[0] << 8 | ports[1]) : (ports[2] << 8 | ports[3]);
	key.dport = out ? (ports[2] << 8 | ports[3]) : (ports[0] << 8 | ports[1]);

	struct traffic *counts = bpf_map_lookup_elem(&traffic, &key);

	if (!counts)
		return 1;
	__sync_fetch_and_add(out ? &counts->bytes_out : &counts->bytes_in, skb->len);
	noted();
	__u64 cookie = bpf_get_socket_cookie(skb);

	struct flow_key *noted_flow = cookie ? bpf_map_lookup_elem(&socket_flows, &cookie) : 0;

	/* its flow now (a TCP socket may connect again elsewhere after a failure) */
	if (cookie && (!noted_flow || !same_flow(noted_flow, &key)))
		bpf_map_update_elem(&socket_flows, &cookie, &key, BPF_ANY);
	return 1;
}

SEC("cgroup_skb/egress")
int egress(struct __sk_buff *skb)
{
	return count(skb, 1);
}

SEC("cgroup_skb/ingress")
int ingress(struct __sk_buff *skb)
{
	return count(skb, 0);
}
