/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * relay-helper.c: a fault-injecting TCP relay for the test suites
 * (relay-helper.h)
 *
 * One thread runs a poll(2) loop over the listening socket, an eventfd the
 * test thread writes to wake it, and both sockets of every connection.
 * Everything the relay knows sits under one mutex, which the loop holds
 * except while it sleeps in poll(); a call from the test thread changes
 * the state under that mutex, wakes the loop and waits until the loop has
 * gone round once with the change seen (relay_sync()), so that the change
 * has taken effect when the call returns.  Only the loop's thread opens,
 * reads, writes or closes a connection's fds.
 *
 * Each direction of a connection is a Flow: a ring of RELAY_QUEUE_MAX bytes
 * between what was read from the sender (@in) and what was written to the
 * receiver (@out), both counted from the start of the stream, so that the
 * byte at stream offset N sits at ring[N % RELAY_QUEUE_MAX].  A frame
 * parser walks the bytes read; what may be written is capped by a hold
 * (@hold_at: the offset of the held frame's header) and by a header not yet
 * complete, so that a held frame is never half forwarded.
 *
 * The watchers (a TLS record walker on opaque connections, a needle search
 * on all) look at each byte once, right after the read that brought it and
 * before anything is written: every byte in the ring between @out and @in
 * is still there, and nothing leaves the relay unseen.  A needle split
 * between two reads is found thanks to the last bytes of the previous read,
 * kept apart (@tail), since the ring may have reused their place.
 */
#define G_LOG_DOMAIN "vmig-relay"

#include <config.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <glib.h>
#include <gio/gio.h>

#include "fdpass/fd.h"
#include "tests/relay-helper.h"

/* Bytes at most waiting in the relay in one direction of one connection. */
#define RELAY_QUEUE_MAX (4 * 1024 * 1024)

/* The wire (docs/protocol.md), all big-endian. */
#define HELLO_MAGIC       0x564D4748u /* "VMGH": the destination's first bytes */
#define HELLO_LEN         4
#define MAIN_MAGIC        0x564D474Du /* "VMGM": a main channel's first bytes */
#define DATA_MAGIC        0x564D4743u /* "VMGC": a data channel's preamble */
#define DATA_PREAMBLE_LEN 24          /* magic, u8[16] token, u16 index, u16 reserved */
#define DATA_INDEX_AT     20
#define FRAME_HEADER_LEN  12 /* u32 magic "VMGR", u16 type, u16 flags, u32 length */
#define FRAME_BODY_MAX    65536

static const guint8 frame_magic[4] = {'V', 'M', 'G', 'R'};

/* @hold_at when nothing is held. */
#define NO_HOLD G_MAXUINT64

static const char *const dir_names[] = {"src->dst", "dst->src"};
G_STATIC_ASSERT(G_N_ELEMENTS(dir_names) == VMIG_RELAY_DIR_LAST);

/* What a connection is, from the first bytes its source wrote. */
typedef enum {
    CONN_KIND_PENDING, /* not enough bytes yet to tell */
    CONN_KIND_MAIN,
    CONN_KIND_DATA,
    CONN_KIND_OPAQUE,
    CONN_KIND_LAST
} ConnKind;

static const char *const kind_names[] = {"pending", "main", "data", "opaque"};
G_STATIC_ASSERT(G_N_ELEMENTS(kind_names) == CONN_KIND_LAST);

/* The count each kind adds to, once told (PENDING: none). */
static const int kind_counts[] = {-1, VMIG_RELAY_COUNT_MAIN, VMIG_RELAY_COUNT_DATA,
                                  VMIG_RELAY_COUNT_OPAQUE};
G_STATIC_ASSERT(G_N_ELEMENTS(kind_counts) == CONN_KIND_LAST);

/* A TLS record header: u8 type, u8[2] legacy version, u16 length. */
#define TLS_HEADER_LEN 5
#define TLS_HANDSHAKE  0x16
/* Bytes a violation's description quotes, from the bad header on. */
#define VIOLATION_QUOTE 8

static const char *const tls_type_names[] = {"change_cipher_spec", "alert", "handshake",
                                             "application_data"};
G_STATIC_ASSERT(G_N_ELEMENTS(tls_type_names) == VMIG_RELAY_TLS_LAST);

/* How far the TLS walker got in one direction. */
typedef enum {
    TLS_VIEW_OFF,     /* not an opaque connection (or not told yet) */
    TLS_VIEW_RECORDS, /* TLS records so far */
    TLS_VIEW_NOT_TLS, /* a header broke the rules: walked no further */
    TLS_VIEW_LAST
} TlsView;

static const char *const tls_view_names[] = {"off", "records", "not TLS"};
G_STATIC_ASSERT(G_N_ELEMENTS(tls_view_names) == TLS_VIEW_LAST);

/*
 * A connection's sides, indexed so that flow[d] is read from fd[d]: the
 * source sends VMIG_RELAY_SRC_TO_DST, the destination VMIG_RELAY_DST_TO_SRC.
 */
#define SIDE_SRC VMIG_RELAY_SRC_TO_DST
#define SIDE_DST VMIG_RELAY_DST_TO_SRC

/* One direction of a connection. */
typedef struct {
    guint8 *ring;     /* RELAY_QUEUE_MAX bytes, allocated at the first read */
    guint64 in;       /* bytes read from the sender */
    guint64 out;      /* bytes written to the receiver */
    guint64 hold_at;  /* bytes from this offset on are held; NO_HOLD */
    gboolean eof;     /* the sender ended its stream */
    gboolean shut;    /* ... and the end was passed on: shutdown(SHUT_WR) */
    gboolean parsing; /* still framed (main channels, until a non-VMGR header) */
    guint64 parse_at; /* the next byte the parser looks at */
    guint64 header_at;
    guint8 header[FRAME_HEADER_LEN];
    guint header_len; /* bytes of @header read; 0 between frames */
    guint32 body_left;

    TlsView tls;
    guint64 tls_at; /* the next byte the TLS walker looks at */
    guint64 tls_header_at;
    guint8 tls_header[TLS_HEADER_LEN];
    guint tls_header_len; /* bytes of @tls_header read; 0 between records */
    guint32 tls_body_left;

    guint64 needle_at; /* the next byte the needle search looks at */
    guint8 tail[VMIG_RELAY_NEEDLE_MAX - 1];
    guint tail_len; /* the last bytes before @needle_at, at most needle_max - 1 */
} Flow;

typedef struct {
    guint id; /* 1 for the first connection accepted, and so on */
    ConnKind kind;
    VmigFd fd[2];        /* fd[SIDE_DST] is -1 until connected to the target */
    gboolean connecting; /* fd[SIDE_DST]'s connect() is in progress */
    gboolean dead;       /* closed: freed at the end of the loop's round */
    Flow flow[VMIG_RELAY_DIR_LAST];
} Conn;

typedef struct {
    VmigRelayDir dir;
    guint16 type;
} HoldRule;

struct VmigRelay {
    guint16 target_port;
    guint16 port;
    VmigFd listen_fd;
    VmigFd wake_fd; /* eventfd: the test thread wakes the loop */
    GThread *thread;

    GMutex mutex;     /* everything below */
    GCond cond;       /* broadcast on every change a wait may be waiting for */
    GPtrArray *conns; /* Conn, owned */
    GArray *rules;    /* HoldRule not yet caught */
    gboolean caught;  /* a rule caught a frame since the last release */
    gboolean frozen;
    gboolean cut;
    gboolean quit;
    gboolean accept_stuck;   /* accept() failed (EMFILE...): wait for a close */
    GHashTable *frames_seen; /* dir << 16 | type -> count */
    guint counts[VMIG_RELAY_COUNT_LAST];
    guint64 data_bytes;

    /* The watchers' findings (VmigRelayReport). */
    guint opaque_tls_start;
    guint64 tls_records[VMIG_RELAY_TLS_LAST];
    guint64 tls_record_bytes[VMIG_RELAY_TLS_LAST];
    guint not_tls;
    guint violation_conn;
    VmigRelayDir violation_dir;
    guint64 violation_offset;
    char *violation;    /* the first, or NULL */
    GPtrArray *needles; /* GBytes, owned; empty: not looking */
    gsize needle_max;   /* the longest needle's length */
    gboolean needle_seen;
    guint needle_index;
    guint needle_conn;
    ConnKind needle_kind; /* when found: "pending" before 4 bytes from the source */
    VmigRelayDir needle_dir;
    guint64 needle_offset;

    guint64 request_seq; /* changes the test thread made */
    guint64 done_seq;    /* ... of which the loop has seen these */
};

/* ------------------------------------------------------------------------ */
/* Sockets */

/* Close *@fdp with a reset (RST) rather than an orderly end (FIN). */
static void
fd_reset(VmigFd *fdp)
{
    struct linger linger = {.l_onoff = 1, .l_linger = 0};

    if (*fdp < 0)
        return;
    (void)setsockopt(*fdp, SOL_SOCKET, SO_LINGER, &linger, sizeof(linger));
    vmig_fd_clear(fdp);
}

/* Small writes (a frame written a byte at a time) go out at once. */
static void
fd_set_nodelay(int fd)
{
    int one = 1;

    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* Returns: 0 with *@fdp listening on 127.0.0.1 and *@port its port, or -errno. */
static int
listen_loopback(VmigFd *fdp, guint16 *port)
{
    struct sockaddr_in addr = {.sin_family = AF_INET};
    socklen_t len = sizeof(addr);
    g_auto(VmigFd) fd = -1;

    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 128) < 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) < 0)
        return -errno;
    *port = ntohs(addr.sin_port);
    *fdp = vmig_fd_steal(&fd);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Connections (the loop's thread only, the mutex held) */

static guint32
read_be32(const guint8 *p)
{
    return (guint32)p[0] << 24 | (guint32)p[1] << 16 | (guint32)p[2] << 8 | p[3];
}

static guint16
read_be16(const guint8 *p)
{
    return (guint16)(p[0] << 8 | p[1]);
}

/* Returns: TRUE once both sides of @conn are connected. */
static gboolean
conn_connected(Conn *conn)
{
    return conn->fd[SIDE_DST] >= 0 && !conn->connecting;
}

/* Reset both sides of @conn; it is freed at the end of the round. */
static void
conn_reset(Conn *conn)
{
    g_debug("%s connection reset", kind_names[conn->kind]);
    fd_reset(&conn->fd[SIDE_SRC]);
    fd_reset(&conn->fd[SIDE_DST]);
    conn->dead = TRUE;
}

/* Close both sides of @conn in order; it is freed at the end of the round. */
static void
conn_close(Conn *conn)
{
    vmig_fd_clear(&conn->fd[SIDE_SRC]);
    vmig_fd_clear(&conn->fd[SIDE_DST]);
    conn->dead = TRUE;
}

static void
conn_free(gpointer data)
{
    Conn *conn = data;
    gsize d;

    vmig_fd_clear(&conn->fd[SIDE_SRC]);
    vmig_fd_clear(&conn->fd[SIDE_DST]);
    for (d = 0; d < VMIG_RELAY_DIR_LAST; d++)
        g_free(conn->flow[d].ring);
    g_free(conn);
}

/*
 * Starts connecting @conn to the target; a refusal resets the source.
 * Returns: FALSE if @conn was reset.
 */
static gboolean
conn_connect(VmigRelay *relay, Conn *conn)
{
    struct sockaddr_in addr = {.sin_family = AF_INET};
    g_auto(VmigFd) fd = -1;

    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(relay->target_port);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
        fd_set_nodelay(fd);
        if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0) {
            conn->fd[SIDE_DST] = vmig_fd_steal(&fd);
            return TRUE;
        }
        if (errno == EINPROGRESS) {
            conn->fd[SIDE_DST] = vmig_fd_steal(&fd);
            conn->connecting = TRUE;
            return TRUE;
        }
    }
    g_debug("connecting to port %u: %s", relay->target_port, g_strerror(errno));
    conn_reset(conn);
    return FALSE;
}

/*
 * Finishes @conn's connect() to the target, which poll() reported on.
 * Returns: FALSE if it failed (and @conn was reset).
 */
static gboolean
conn_connect_finish(Conn *conn)
{
    int err = 0;
    socklen_t len = sizeof(err);

    if (getsockopt(conn->fd[SIDE_DST], SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    if (err == EINPROGRESS || err == EALREADY)
        return TRUE;
    if (err != 0) {
        g_debug("connecting to the target: %s", g_strerror(err));
        conn_reset(conn);
        return FALSE;
    }
    conn->connecting = FALSE;
    return TRUE;
}

/* Returns: the stream offset up to which @flow may be written now. */
static guint64
flow_limit(Conn *conn, VmigRelayDir dir)
{
    Flow *flow = &conn->flow[dir];
    guint64 limit = flow->in;

    /* Before the source said what it is, only the destination's hello goes
     * (the source says nothing before it). */
    if (conn->kind == CONN_KIND_PENDING)
        return dir == SIDE_DST ? MIN(flow->in, HELLO_LEN) : flow->out;
    if (flow->parsing && flow->header_len > 0)
        limit = MIN(limit, flow->header_at);
    return MIN(limit, flow->hold_at);
}

/* The parser saw the header of a frame of @type at offset @at of @dir. */
static void
frame_seen(VmigRelay *relay, Conn *conn, VmigRelayDir dir, guint64 at, guint16 type)
{
    gpointer key = GUINT_TO_POINTER((guint)dir << 16 | type);
    guint count = GPOINTER_TO_UINT(g_hash_table_lookup(relay->frames_seen, key));
    Flow *flow = &conn->flow[dir];
    guint i;

    g_hash_table_insert(relay->frames_seen, key, GUINT_TO_POINTER(count + 1));
    g_debug("frame type %u %s at offset %" G_GUINT64_FORMAT, type, dir_names[dir], at);
    if (flow->hold_at == NO_HOLD) {
        for (i = 0; i < relay->rules->len; i++) {
            HoldRule *rule = &g_array_index(relay->rules, HoldRule, i);

            if (rule->dir == dir && rule->type == type) {
                g_debug("holding %s from offset %" G_GUINT64_FORMAT, dir_names[dir], at);
                g_array_remove_index(relay->rules, i);
                flow->hold_at = at;
                relay->caught = TRUE;
                break;
            }
        }
    }
    g_cond_broadcast(&relay->cond);
}

/* Walk the frames among the bytes of @dir read since the last walk. */
static void
flow_parse(VmigRelay *relay, Conn *conn, VmigRelayDir dir)
{
    Flow *flow = &conn->flow[dir];

    while (flow->parsing && flow->parse_at < flow->in) {
        guint8 byte;

        if (flow->body_left > 0) {
            guint64 step = MIN(flow->body_left, flow->in - flow->parse_at);

            flow->parse_at += step;
            flow->body_left -= step;
            continue;
        }
        byte = flow->ring[flow->parse_at % RELAY_QUEUE_MAX];
        if (flow->header_len == 0)
            flow->header_at = flow->parse_at;
        flow->header[flow->header_len++] = byte;
        flow->parse_at++;
        if (flow->header_len <= sizeof(frame_magic) &&
            byte != frame_magic[flow->header_len - 1]) {
            g_debug("%s raw from offset %" G_GUINT64_FORMAT, dir_names[dir],
                    flow->header_at);
            flow->parsing = FALSE;
        } else if (flow->header_len == FRAME_HEADER_LEN) {
            guint32 len = read_be32(flow->header + 8);

            flow->header_len = 0;
            if (len > FRAME_BODY_MAX) {
                /* Not a frame the peers would accept: the rest is bytes. */
                g_debug("%s: frame body of %u bytes, raw from here", dir_names[dir], len);
                flow->parsing = FALSE;
            } else {
                frame_seen(relay, conn, dir, flow->header_at,
                           read_be16(flow->header + 4));
                flow->body_left = len;
            }
        }
    }
    /* A header cut short by the end of the stream goes out as it is. */
    if (flow->eof)
        flow->parsing = FALSE;
}

/* Tell what @conn is once its source wrote enough (or ended). */
static void
conn_classify(VmigRelay *relay, Conn *conn)
{
    Flow *src = &conn->flow[SIDE_SRC];
    Flow *dst = &conn->flow[SIDE_DST];
    gboolean ended = src->eof || dst->eof;
    guint64 after_hello = 0;
    guint32 magic;

    if (src->in < 4 && !ended)
        return;
    magic = src->in >= 4 ? read_be32(src->ring) : 0;
    /* The destination's frames, TLS records or bytes come after its hello. */
    if (dst->in >= HELLO_LEN && read_be32(dst->ring) == HELLO_MAGIC)
        after_hello = HELLO_LEN;
    if (magic == MAIN_MAGIC) {
        conn->kind = CONN_KIND_MAIN;
        src->parsing = TRUE;
        src->parse_at = 4;
        dst->parsing = TRUE;
        dst->parse_at = after_hello;
    } else if (magic == DATA_MAGIC && src->in >= DATA_PREAMBLE_LEN) {
        conn->kind = CONN_KIND_DATA;
        g_debug("data channel %u", read_be16(src->ring + DATA_INDEX_AT));
    } else if (magic == DATA_MAGIC && !ended) {
        return;
    } else {
        /* Nothing but the hello was forwarded yet: the walker starts at each
         * direction's first byte after it. */
        conn->kind = CONN_KIND_OPAQUE;
        src->tls = TLS_VIEW_RECORDS;
        dst->tls = TLS_VIEW_RECORDS;
        dst->tls_at = after_hello;
        if (src->in > 0 && src->ring[0] == TLS_HANDSHAKE)
            relay->opaque_tls_start++;
    }
    relay->counts[kind_counts[conn->kind]]++;
    g_debug("connection %u: %s", conn->id, kind_names[conn->kind]);
    g_cond_broadcast(&relay->cond);
}

/* ------------------------------------------------------------------------ */
/* Watchers (the loop's thread only, the mutex held) */

/* Copy @len bytes of @flow from stream offset @at, which the ring still holds. */
static void
flow_copy(const Flow *flow, guint64 at, guint8 *out, gsize len)
{
    gsize i;

    for (i = 0; i < len; i++)
        out[i] = flow->ring[(at + i) % RELAY_QUEUE_MAX];
}

/* Append @len bytes to @out as hex, then quoted with '.' for the unprintable. */
static void
describe_bytes(GString *out, const guint8 *bytes, gsize len)
{
    gsize i;

    for (i = 0; i < len; i++)
        g_string_append_printf(out, "%02x ", bytes[i]);
    g_string_append_c(out, '"');
    for (i = 0; i < len; i++)
        g_string_append_c(out, g_ascii_isprint(bytes[i]) ? bytes[i] : '.');
    g_string_append_c(out, '"');
}

/*
 * Checks the first @len bytes of a TLS record header, as they come.
 * Returns: FALSE if they break a rule (relay-helper.h, VmigRelayReport).
 */
static gboolean
tls_header_ok(const guint8 *header, guint len)
{
    if (len >= 1 && (header[0] < VMIG_RELAY_TLS_TYPE_FIRST ||
                     header[0] >= VMIG_RELAY_TLS_TYPE_FIRST + VMIG_RELAY_TLS_LAST))
        return FALSE;
    if (len >= 2 && header[1] != 0x03)
        return FALSE;
    if (len >= 3 && (header[2] < 0x01 || header[2] > 0x04))
        return FALSE;
    if (len >= 5 && read_be16(header + 3) > VMIG_RELAY_TLS_RECORD_MAX)
        return FALSE;
    return TRUE;
}

/* The header at @flow->tls_header_at of @dir broke a rule: note it. */
static void
tls_violation(VmigRelay *relay, Conn *conn, VmigRelayDir dir)
{
    Flow *flow = &conn->flow[dir];
    guint8 quote[VIOLATION_QUOTE];
    gsize len = flow->tls_header_len;
    g_autoptr(GString) text = g_string_new(NULL);

    /* The header's bytes, then what follows them if already read. */
    memcpy(quote, flow->tls_header, len);
    if (flow->in > flow->tls_at) {
        gsize more = MIN(VIOLATION_QUOTE - len, flow->in - flow->tls_at);

        flow_copy(flow, flow->tls_at, quote + len, more);
        len += more;
    }
    g_string_printf(
        text,
        "connection %u (%s) %s: no TLS record header at offset %" G_GUINT64_FORMAT ": ",
        conn->id, kind_names[conn->kind], dir_names[dir], flow->tls_header_at);
    describe_bytes(text, quote, len);
    g_debug("%s", text->str);

    flow->tls = TLS_VIEW_NOT_TLS;
    relay->not_tls++;
    if (!relay->violation) {
        relay->violation_conn = conn->id;
        relay->violation_dir = dir;
        relay->violation_offset = flow->tls_header_at;
        relay->violation = g_string_free(g_steal_pointer(&text), FALSE);
    }
}

/* Walk the TLS records among the bytes of @dir read since the last walk. */
static void
flow_walk_tls(VmigRelay *relay, Conn *conn, VmigRelayDir dir)
{
    Flow *flow = &conn->flow[dir];

    while (flow->tls == TLS_VIEW_RECORDS && flow->tls_at < flow->in) {
        guint type;
        guint16 len;

        if (flow->tls_body_left > 0) {
            guint64 step = MIN(flow->tls_body_left, flow->in - flow->tls_at);

            flow->tls_at += step;
            flow->tls_body_left -= step;
            continue;
        }
        if (flow->tls_header_len == 0)
            flow->tls_header_at = flow->tls_at;
        flow->tls_header[flow->tls_header_len++] =
            flow->ring[flow->tls_at % RELAY_QUEUE_MAX];
        flow->tls_at++;
        if (!tls_header_ok(flow->tls_header, flow->tls_header_len)) {
            tls_violation(relay, conn, dir);
            break;
        }
        if (flow->tls_header_len < TLS_HEADER_LEN)
            continue;
        type = flow->tls_header[0] - VMIG_RELAY_TLS_TYPE_FIRST;
        len = read_be16(flow->tls_header + 3);
        relay->tls_records[type]++;
        relay->tls_record_bytes[type] += len;
        flow->tls_header_len = 0;
        flow->tls_body_left = len;
    }
}

/*
 * Looks for @needle in @seam where it starts in the first @tail_len bytes
 * and ends after them.
 * Returns: TRUE with *@pos where it starts, the first such place.
 */
static gboolean
seam_find(const guint8 *seam, gsize seam_len, gsize tail_len, const guint8 *needle,
          gsize needle_len, gsize *pos)
{
    gsize j = tail_len >= needle_len ? tail_len - needle_len + 1 : 0;

    for (; j < tail_len && j + needle_len <= seam_len; j++) {
        if (memcmp(seam + j, needle, needle_len) == 0) {
            *pos = j;
            return TRUE;
        }
    }
    return FALSE;
}

/*
 * Looks for every needle among @len bytes at stream offset @at of @dir,
 * following the flow's tail, and moves them into the tail.
 */
static void
flow_search_chunk(VmigRelay *relay, Conn *conn, VmigRelayDir dir, const guint8 *bytes,
                  gsize len, guint64 at)
{
    Flow *flow = &conn->flow[dir];
    /* The tail and the first bytes of the chunk: the needles that straddle. */
    guint8 seam[2 * (VMIG_RELAY_NEEDLE_MAX - 1)];
    gsize seam_len = flow->tail_len + MIN(len, relay->needle_max - 1);
    guint64 seam_at = at - flow->tail_len;
    guint64 best_at = G_MAXUINT64;
    guint best = 0;
    gsize keep;
    guint i;

    memcpy(seam, flow->tail, flow->tail_len);
    memcpy(seam + flow->tail_len, bytes, seam_len - flow->tail_len);
    for (i = 0; i < relay->needles->len; i++) {
        gsize needle_len, j;
        const guint8 *needle =
            g_bytes_get_data(g_ptr_array_index(relay->needles, i), &needle_len);
        const guint8 *found;
        guint64 found_at;

        /* Straddling the seam comes first; a needle wholly in the tail was
         * looked for with the previous chunk. */
        if (seam_find(seam, seam_len, flow->tail_len, needle, needle_len, &j))
            found_at = seam_at + j;
        else if ((found = memmem(bytes, len, needle, needle_len)))
            found_at = at + (found - bytes);
        else
            continue;
        if (found_at < best_at) {
            best_at = found_at;
            best = i;
        }
    }
    if (best_at != G_MAXUINT64) {
        relay->needle_seen = TRUE;
        relay->needle_index = best;
        relay->needle_conn = conn->id;
        relay->needle_kind = conn->kind;
        relay->needle_dir = dir;
        relay->needle_offset = best_at;
        g_debug("needle %u on connection %u %s at offset %" G_GUINT64_FORMAT, best,
                conn->id, dir_names[dir], best_at);
        g_cond_broadcast(&relay->cond);
        return;
    }

    /* The last needle_max - 1 bytes of tail and chunk. */
    keep = MIN(relay->needle_max - 1, flow->tail_len + len);
    if (len >= keep) {
        memcpy(flow->tail, bytes + len - keep, keep);
    } else {
        memmove(flow->tail, flow->tail + flow->tail_len - (keep - len), keep - len);
        memcpy(flow->tail + keep - len, bytes, len);
    }
    flow->tail_len = keep;
}

/* Look for the needles among the bytes of @dir read since the last look. */
static void
flow_search(VmigRelay *relay, Conn *conn, VmigRelayDir dir)
{
    Flow *flow = &conn->flow[dir];

    while (flow->needle_at < flow->in && relay->needles->len > 0 && !relay->needle_seen) {
        gsize pos = flow->needle_at % RELAY_QUEUE_MAX;
        gsize len = MIN(flow->in - flow->needle_at, RELAY_QUEUE_MAX - pos);

        flow_search_chunk(relay, conn, dir, flow->ring + pos, len, flow->needle_at);
        flow->needle_at += len;
    }
    /* Not looking (any more): the cursor keeps up all the same. */
    flow->needle_at = flow->in;
}

/*
 * Reads what fd[@dir] has for flow @dir, as much as the ring takes.
 * Returns: FALSE if the sender reset (or failed).
 */
static gboolean
flow_read(Conn *conn, VmigRelayDir dir)
{
    Flow *flow = &conn->flow[dir];
    gsize space = RELAY_QUEUE_MAX - (flow->in - flow->out);
    gsize pos = flow->in % RELAY_QUEUE_MAX;
    gsize first = MIN(space, RELAY_QUEUE_MAX - pos);
    struct iovec iov[2];
    ssize_t n;

    if (space == 0 || flow->eof)
        return TRUE;
    if (!flow->ring)
        flow->ring = g_malloc(RELAY_QUEUE_MAX);
    iov[0] = (struct iovec){.iov_base = flow->ring + pos, .iov_len = first};
    iov[1] = (struct iovec){.iov_base = flow->ring, .iov_len = space - first};
    n = readv(conn->fd[dir], iov, 2);
    if (n > 0) {
        flow->in += n;
    } else if (n == 0) {
        g_debug("%s: end of stream", dir_names[dir]);
        flow->eof = TRUE;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        g_debug("%s: %s", dir_names[dir], g_strerror(errno));
        return FALSE;
    }
    return TRUE;
}

/*
 * Writes what may go of flow @dir to its receiver, fd[!@dir].
 * Returns: FALSE if the receiver is gone.
 */
static gboolean
flow_write(VmigRelay *relay, Conn *conn, VmigRelayDir dir)
{
    Flow *flow = &conn->flow[dir];
    guint64 limit = flow_limit(conn, dir);
    gsize avail, pos, first;
    struct iovec iov[2];
    struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};
    ssize_t n;

    if (limit <= flow->out)
        return TRUE;
    avail = limit - flow->out;
    pos = flow->out % RELAY_QUEUE_MAX;
    first = MIN(avail, RELAY_QUEUE_MAX - pos);
    iov[0] = (struct iovec){.iov_base = flow->ring + pos, .iov_len = first};
    iov[1] = (struct iovec){.iov_base = flow->ring, .iov_len = avail - first};
    n = sendmsg(conn->fd[!dir], &msg, MSG_NOSIGNAL);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return TRUE;
        g_debug("%s: %s", dir_names[dir], g_strerror(errno));
        return FALSE;
    }
    if (conn->kind == CONN_KIND_DATA && dir == VMIG_RELAY_SRC_TO_DST &&
        flow->out + n > DATA_PREAMBLE_LEN)
        relay->data_bytes += flow->out + n - MAX(flow->out, DATA_PREAMBLE_LEN);
    flow->out += n;
    return TRUE;
}

/* Forward what may go on @conn, pass ends on, close it once both ended. */
static void
conn_progress(VmigRelay *relay, Conn *conn)
{
    gsize d;

    if (conn->dead || relay->frozen || !conn_connected(conn))
        return;
    for (d = 0; d < VMIG_RELAY_DIR_LAST; d++) {
        Flow *flow = &conn->flow[d];

        if (!flow_write(relay, conn, d)) {
            conn_reset(conn);
            return;
        }
        if (flow->eof && !flow->shut && flow->out == flow->in) {
            (void)shutdown(conn->fd[!d], SHUT_WR);
            flow->shut = TRUE;
        }
    }
    if (conn->flow[SIDE_SRC].shut && conn->flow[SIDE_DST].shut)
        conn_close(conn);
}

/* Returns: the poll events @conn wants on its side @side. */
static short
conn_events(VmigRelay *relay, Conn *conn, int side)
{
    Flow *in = &conn->flow[side];
    short events = 0;

    if (conn->dead || conn->fd[side] < 0)
        return 0;
    if (side == SIDE_DST && conn->connecting)
        return POLLOUT;
    /* Frozen, only a source that has not said what it is yet is listened to. */
    if (!in->eof && in->in - in->out < RELAY_QUEUE_MAX &&
        (!relay->frozen || (side == SIDE_SRC && conn->kind == CONN_KIND_PENDING)))
        events |= POLLIN;
    if (!relay->frozen && conn_connected(conn) &&
        flow_limit(conn, !side) > conn->flow[!side].out)
        events |= POLLOUT;
    return events;
}

/* Handle what poll() said about @conn's sides. */
static void
conn_dispatch(VmigRelay *relay, Conn *conn, const short revents[2])
{
    gsize d;

    if (conn->dead)
        return;
    if (conn->connecting && revents[SIDE_DST] && !conn_connect_finish(conn))
        return;
    for (d = 0; d < VMIG_RELAY_DIR_LAST; d++) {
        if (!(revents[d] & (POLLIN | POLLHUP | POLLERR)))
            continue;
        if (d == SIDE_DST && conn->connecting)
            continue;
        if (!flow_read(conn, d)) {
            conn_reset(conn);
            return;
        }
    }
    if (conn->kind == CONN_KIND_PENDING)
        conn_classify(relay, conn);
    if (conn->kind == CONN_KIND_MAIN) {
        for (d = 0; d < VMIG_RELAY_DIR_LAST; d++)
            flow_parse(relay, conn, d);
    }
    /* Before anything read is written (relay_apply()): see the top of the file. */
    for (d = 0; d < VMIG_RELAY_DIR_LAST; d++) {
        flow_search(relay, conn, d);
        flow_walk_tls(relay, conn, d);
    }
}

/* Accept every connection waiting. */
static void
relay_accept(VmigRelay *relay)
{
    for (;;) {
        g_auto(VmigFd) fd =
            accept4(relay->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        Conn *conn;

        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                /* Polling the listener again would spin: wait for a close. */
                g_warning("relay: accept: %s", g_strerror(errno));
                relay->accept_stuck = TRUE;
            }
            return;
        }
        if (relay->cut) {
            fd_reset(&fd);
            continue;
        }
        fd_set_nodelay(fd);
        conn = g_new0(Conn, 1);
        conn->id = ++relay->counts[VMIG_RELAY_COUNT_ACCEPTED];
        conn->fd[SIDE_SRC] = vmig_fd_steal(&fd);
        conn->fd[SIDE_DST] = -1;
        conn->flow[SIDE_SRC].hold_at = NO_HOLD;
        conn->flow[SIDE_DST].hold_at = NO_HOLD;
        g_ptr_array_add(relay->conns, conn);
        if (!relay->frozen)
            conn_connect(relay, conn);
    }
}

/* Bring every connection in line with a cut or a heal, forward what may go. */
static void
relay_apply(VmigRelay *relay)
{
    guint i;

    for (i = 0; i < relay->conns->len; i++) {
        Conn *conn = g_ptr_array_index(relay->conns, i);

        if (conn->dead)
            continue;
        if (relay->cut)
            conn_reset(conn);
        else if (!relay->frozen && conn->fd[SIDE_DST] < 0)
            conn_connect(relay, conn);
        conn_progress(relay, conn);
    }
    /* Free the dead, keeping the order. */
    for (i = relay->conns->len; i-- > 0;) {
        Conn *conn = g_ptr_array_index(relay->conns, i);

        if (conn->dead) {
            if (conn->kind == CONN_KIND_OPAQUE)
                g_debug("connection %u closed: src->dst %s, dst->src %s", conn->id,
                        tls_view_names[conn->flow[SIDE_SRC].tls],
                        tls_view_names[conn->flow[SIDE_DST].tls]);
            g_ptr_array_remove_index(relay->conns, i);
            relay->accept_stuck = FALSE;
        }
    }
}

static gpointer
relay_thread(gpointer data)
{
    VmigRelay *relay = data;
    g_autoptr(GArray) pfds = g_array_new(FALSE, FALSE, sizeof(struct pollfd));
    g_autoptr(GPtrArray) polled = g_ptr_array_new();
    guint i;

    g_mutex_lock(&relay->mutex);
    while (!relay->quit) {
        struct pollfd fixed[2] = {
            {.fd = relay->wake_fd, .events = POLLIN},
            {.fd = relay->accept_stuck ? -1 : relay->listen_fd, .events = POLLIN},
        };
        int n;

        relay_apply(relay);
        relay->done_seq = relay->request_seq;
        g_cond_broadcast(&relay->cond);

        /* The eventfd, the listener, then each connection's source and destination. */
        g_array_set_size(pfds, 0);
        g_array_append_vals(pfds, fixed, G_N_ELEMENTS(fixed));
        g_ptr_array_set_size(polled, 0);
        for (i = 0; i < relay->conns->len; i++) {
            Conn *conn = g_ptr_array_index(relay->conns, i);
            int side;

            for (side = SIDE_SRC; side <= SIDE_DST; side++) {
                /* An fd we want nothing from is left out, lest its HUP wake us. */
                struct pollfd pfd = {.events = conn_events(relay, conn, side)};

                pfd.fd = pfd.events ? conn->fd[side] : -1;
                g_array_append_val(pfds, pfd);
            }
            g_ptr_array_add(polled, conn);
        }

        g_mutex_unlock(&relay->mutex);
        n = poll((struct pollfd *)pfds->data, pfds->len, -1);
        g_mutex_lock(&relay->mutex);
        if (n < 0) {
            if (errno != EINTR)
                g_error("relay: poll: %s", g_strerror(errno));
            continue;
        }

        if (g_array_index(pfds, struct pollfd, 0).revents) {
            guint64 count;

            (void)!read(relay->wake_fd, &count, sizeof(count));
        }
        /* Connections first: relay_accept() may add to relay->conns. */
        for (i = 0; i < polled->len; i++) {
            const struct pollfd *p = &g_array_index(pfds, struct pollfd, 2 + 2 * i);
            const short revents[2] = {p[0].revents, p[1].revents};

            conn_dispatch(relay, g_ptr_array_index(polled, i), revents);
        }
        if (g_array_index(pfds, struct pollfd, 1).revents)
            relay_accept(relay);
    }
    /* Quitting: every connection ends, held bytes and all. */
    g_ptr_array_set_size(relay->conns, 0);
    g_mutex_unlock(&relay->mutex);
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* The test thread's side */

/* Wake the loop (the mutex held). */
static void
relay_wake(VmigRelay *relay)
{
    guint64 one = 1;

    (void)!write(relay->wake_fd, &one, sizeof(one));
}

/* Wait (the mutex held) until the loop has seen every change made so far. */
static void
relay_sync(VmigRelay *relay)
{
    guint64 seq = ++relay->request_seq;

    relay_wake(relay);
    while (relay->done_seq < seq)
        g_cond_wait(&relay->cond, &relay->mutex);
}

VmigRelay *
vmig_relay_new(guint16 target_port, GError **error)
{
    g_autoptr(VmigRelay) relay = g_new0(VmigRelay, 1);
    int err;

    relay->target_port = target_port;
    relay->listen_fd = -1;
    relay->wake_fd = -1;
    g_mutex_init(&relay->mutex);
    g_cond_init(&relay->cond);
    relay->conns = g_ptr_array_new_with_free_func(conn_free);
    relay->rules = g_array_new(FALSE, FALSE, sizeof(HoldRule));
    relay->frames_seen = g_hash_table_new(g_direct_hash, g_direct_equal);
    relay->needles = g_ptr_array_new_with_free_func((GDestroyNotify)g_bytes_unref);

    err = listen_loopback(&relay->listen_fd, &relay->port);
    if (err < 0) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(-err),
                    "relay: listening on 127.0.0.1: %s", g_strerror(-err));
        return NULL;
    }
    relay->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (relay->wake_fd < 0) {
        err = errno;
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(err), "relay: eventfd: %s",
                    g_strerror(err));
        return NULL;
    }
    relay->thread = g_thread_try_new("vmig-relay", relay_thread, relay, error);
    if (!relay->thread)
        return NULL;
    g_debug("relay 127.0.0.1:%u -> 127.0.0.1:%u", relay->port, target_port);
    return g_steal_pointer(&relay);
}

guint16
vmig_relay_port(VmigRelay *relay)
{
    return relay->port;
}

void
vmig_relay_hold_frame(VmigRelay *relay, VmigRelayDir dir, guint16 type)
{
    HoldRule rule = {.dir = dir, .type = type};

    g_return_if_fail(dir < VMIG_RELAY_DIR_LAST);
    g_mutex_lock(&relay->mutex);
    g_array_append_val(relay->rules, rule);
    relay_sync(relay);
    g_mutex_unlock(&relay->mutex);
}

/* Wait for @done(@relay, @data) with the mutex held.  Returns: its last value. */
static gboolean
relay_wait(VmigRelay *relay, guint timeout_ms,
           gboolean (*done)(VmigRelay *relay, gconstpointer data), gconstpointer data)
{
    gint64 deadline =
        g_get_monotonic_time() + (gint64)timeout_ms * G_TIME_SPAN_MILLISECOND;
    gboolean ok;

    g_mutex_lock(&relay->mutex);
    while (!(ok = done(relay, data))) {
        if (!g_cond_wait_until(&relay->cond, &relay->mutex, deadline)) {
            ok = done(relay, data);
            break;
        }
    }
    g_mutex_unlock(&relay->mutex);
    return ok;
}

static gboolean
held_done(VmigRelay *relay, gconstpointer data)
{
    return relay->caught;
}

gboolean
vmig_relay_wait_held(VmigRelay *relay, guint timeout_ms)
{
    return relay_wait(relay, timeout_ms, held_done, NULL);
}

static guint
frame_count_locked(VmigRelay *relay, VmigRelayDir dir, guint16 type)
{
    gpointer key = GUINT_TO_POINTER((guint)dir << 16 | type);

    return GPOINTER_TO_UINT(g_hash_table_lookup(relay->frames_seen, key));
}

typedef struct {
    VmigRelayDir dir;
    guint16 type;
} FrameWait;

static gboolean
frame_done(VmigRelay *relay, gconstpointer data)
{
    const FrameWait *wait = data;

    return frame_count_locked(relay, wait->dir, wait->type) > 0;
}

gboolean
vmig_relay_wait_frame(VmigRelay *relay, VmigRelayDir dir, guint16 type, guint timeout_ms)
{
    FrameWait wait = {.dir = dir, .type = type};

    return relay_wait(relay, timeout_ms, frame_done, &wait);
}

guint
vmig_relay_frame_count(VmigRelay *relay, VmigRelayDir dir, guint16 type)
{
    guint count;

    g_mutex_lock(&relay->mutex);
    count = frame_count_locked(relay, dir, type);
    g_mutex_unlock(&relay->mutex);
    return count;
}

void
vmig_relay_release(VmigRelay *relay)
{
    guint i;

    g_mutex_lock(&relay->mutex);
    g_array_set_size(relay->rules, 0);
    relay->caught = FALSE;
    for (i = 0; i < relay->conns->len; i++) {
        Conn *conn = g_ptr_array_index(relay->conns, i);

        conn->flow[SIDE_SRC].hold_at = NO_HOLD;
        conn->flow[SIDE_DST].hold_at = NO_HOLD;
    }
    relay_sync(relay);
    g_mutex_unlock(&relay->mutex);
}

void
vmig_relay_freeze(VmigRelay *relay)
{
    g_mutex_lock(&relay->mutex);
    relay->frozen = TRUE;
    relay_sync(relay);
    g_mutex_unlock(&relay->mutex);
}

void
vmig_relay_cut(VmigRelay *relay)
{
    g_mutex_lock(&relay->mutex);
    relay->cut = TRUE;
    relay_sync(relay);
    g_mutex_unlock(&relay->mutex);
}

void
vmig_relay_heal(VmigRelay *relay)
{
    g_mutex_lock(&relay->mutex);
    relay->frozen = FALSE;
    relay->cut = FALSE;
    relay_sync(relay);
    g_mutex_unlock(&relay->mutex);
}

guint
vmig_relay_count(VmigRelay *relay, VmigRelayCount what)
{
    guint count;

    g_return_val_if_fail(what < VMIG_RELAY_COUNT_LAST, 0);
    g_mutex_lock(&relay->mutex);
    count = relay->counts[what];
    g_mutex_unlock(&relay->mutex);
    return count;
}

typedef struct {
    VmigRelayCount what;
    guint count;
} CountWait;

static gboolean
count_done(VmigRelay *relay, gconstpointer data)
{
    const CountWait *wait = data;

    return relay->counts[wait->what] >= wait->count;
}

gboolean
vmig_relay_wait_count(VmigRelay *relay, VmigRelayCount what, guint count,
                      guint timeout_ms)
{
    CountWait wait = {.what = what, .count = count};

    g_return_val_if_fail(what < VMIG_RELAY_COUNT_LAST, FALSE);
    return relay_wait(relay, timeout_ms, count_done, &wait);
}

guint
vmig_relay_connections(VmigRelay *relay, gboolean main_channel)
{
    return vmig_relay_count(relay,
                            main_channel ? VMIG_RELAY_COUNT_MAIN : VMIG_RELAY_COUNT_DATA);
}

gboolean
vmig_relay_wait_connections(VmigRelay *relay, gboolean main_channel, guint count,
                            guint timeout_ms)
{
    return vmig_relay_wait_count(
        relay, main_channel ? VMIG_RELAY_COUNT_MAIN : VMIG_RELAY_COUNT_DATA, count,
        timeout_ms);
}

guint64
vmig_relay_data_bytes(VmigRelay *relay)
{
    guint64 bytes;

    g_mutex_lock(&relay->mutex);
    bytes = relay->data_bytes;
    g_mutex_unlock(&relay->mutex);
    return bytes;
}

const char *
vmig_relay_tls_type_name(VmigRelayTlsType type)
{
    g_return_val_if_fail(type < VMIG_RELAY_TLS_LAST, NULL);
    return tls_type_names[type];
}

void
vmig_relay_watch_needles(VmigRelay *relay, GPtrArray *needles)
{
    guint i, d;

    for (i = 0; needles && i < needles->len; i++) {
        gsize len = g_bytes_get_size(g_ptr_array_index(needles, i));

        g_return_if_fail(len >= 1 && len <= VMIG_RELAY_NEEDLE_MAX);
    }
    g_mutex_lock(&relay->mutex);
    g_ptr_array_set_size(relay->needles, 0);
    relay->needle_max = 0;
    for (i = 0; needles && i < needles->len; i++) {
        GBytes *needle = g_ptr_array_index(needles, i);
        gsize len = g_bytes_get_size(needle);

        g_ptr_array_add(relay->needles, g_bytes_ref(needle));
        relay->needle_max = MAX(relay->needle_max, len);
    }
    relay->needle_seen = FALSE;
    /* From the next byte read on, with no tail of the old needles' length. */
    for (i = 0; i < relay->conns->len; i++) {
        Conn *conn = g_ptr_array_index(relay->conns, i);

        for (d = 0; d < VMIG_RELAY_DIR_LAST; d++) {
            conn->flow[d].needle_at = conn->flow[d].in;
            conn->flow[d].tail_len = 0;
        }
    }
    relay_sync(relay);
    g_mutex_unlock(&relay->mutex);
}

/* Returns: a description of @relay's first needle hit (the mutex held). */
static char *
needle_describe(VmigRelay *relay)
{
    GString *text = g_string_new(NULL);
    gsize len;
    const guint8 *needle =
        g_bytes_get_data(g_ptr_array_index(relay->needles, relay->needle_index), &len);

    g_string_printf(text, "needle %u (%" G_GSIZE_FORMAT " bytes: ", relay->needle_index,
                    len);
    describe_bytes(text, needle, MIN(len, VIOLATION_QUOTE));
    g_string_append_printf(text,
                           "%s) on connection %u (%s) %s at offset %" G_GUINT64_FORMAT,
                           len > VIOLATION_QUOTE ? "..." : "", relay->needle_conn,
                           kind_names[relay->needle_kind], dir_names[relay->needle_dir],
                           relay->needle_offset);
    return g_string_free(text, FALSE);
}

void
vmig_relay_report(VmigRelay *relay, VmigRelayReport *report)
{
    memset(report, 0, sizeof(*report));
    g_mutex_lock(&relay->mutex);
    memcpy(report->counts, relay->counts, sizeof(report->counts));
    report->opaque_tls_start = relay->opaque_tls_start;
    memcpy(report->records, relay->tls_records, sizeof(report->records));
    memcpy(report->record_bytes, relay->tls_record_bytes, sizeof(report->record_bytes));
    report->tls_only = relay->violation == NULL;
    report->not_tls = relay->not_tls;
    if (relay->violation) {
        report->violation_conn = relay->violation_conn;
        report->violation_dir = relay->violation_dir;
        report->violation_offset = relay->violation_offset;
        report->violation = g_strdup(relay->violation);
    }
    if (relay->needle_seen) {
        report->needle_seen = TRUE;
        report->needle_index = relay->needle_index;
        report->needle_conn = relay->needle_conn;
        report->needle_dir = relay->needle_dir;
        report->needle_offset = relay->needle_offset;
        report->needle_hit = needle_describe(relay);
    }
    g_mutex_unlock(&relay->mutex);
}

void
vmig_relay_report_clear(VmigRelayReport *report)
{
    g_free(report->violation);
    g_free(report->needle_hit);
    memset(report, 0, sizeof(*report));
}

void
vmig_relay_free(VmigRelay *relay)
{
    if (!relay)
        return;
    if (relay->thread) {
        g_mutex_lock(&relay->mutex);
        relay->quit = TRUE;
        relay_wake(relay);
        g_mutex_unlock(&relay->mutex);
        g_thread_join(relay->thread);
    }
    g_ptr_array_unref(relay->conns);
    g_array_unref(relay->rules);
    g_hash_table_unref(relay->frames_seen);
    g_ptr_array_unref(relay->needles);
    g_free(relay->violation);
    vmig_fd_clear(&relay->listen_fd);
    vmig_fd_clear(&relay->wake_fd);
    g_mutex_clear(&relay->mutex);
    g_cond_clear(&relay->cond);
    g_free(relay);
}
