/*
 * s2n_bench: the "raw C" column of bench/run.py.
 *
 * The same benchmark protocol as the Python contenders (bench/_tcp_proto.py),
 * written directly against the s2n-tls C API, linked against the same static
 * libs2n.a and libcrypto.a (AWS-LC) as the Python package. bench/_cdriver.py
 * compiles it (cc -O2) into build/bench/; the package build never does.
 *
 *   s2n_bench server --cert PEM --key PEM [--port 0] [--policy P] [--send-buffer N]
 *       Listens on 127.0.0.1, prints "ready PORT" on stdout, serves one
 *       connection at a time until stdin reaches end of file (or --max-conns).
 *   s2n_bench client --ca PEM --port N --figure full|resumed|bulk|rtt
 *                    [--seconds S] [--bytes N] [--chunk N] [--policy P] [--send-buffer N]
 *       Prints one JSON line: {"value": ..., "count": ..., "seconds": ...,
 *       "cipher": ..., "group": ..., "resumed": ...}.
 *
 * Protocol, after the handshake the client sends one mode byte:
 *   'h'  the server answers 1 byte (handshake figures);
 *   'b'  then an 8-byte big-endian length; the server reads that many bytes
 *        and answers 1 byte (bulk);
 *   'e'  the server echoes 64-byte messages until the client closes (rtt).
 * Both sides then close with s2n_shutdown (close_notify both ways).
 *
 * Tuning: one s2n_connection per process, reused with s2n_connection_wipe;
 * s2n_connection_prefer_throughput, receive buffering, multi-record receive,
 * an optional larger send buffer; self-service blinding (a failing call
 * returns at once); TCP_NODELAY on every socket (s2n-tls writes a handshake
 * flight in several writes). Blocking sockets, s2n_connection_set_fd.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <s2n.h>

#define RTT_MSG 64
#define RTT_BATCH 200
#define SINK_BUF (256 * 1024)

/* ---- errors --------------------------------------------------------------- */

static void die(const char *what)
{
    fprintf(stderr, "s2n_bench: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void die_s2n(const char *what)
{
    fprintf(stderr, "s2n_bench: %s: %s (%s)\n", what, s2n_strerror(s2n_errno, "EN"),
            s2n_strerror_debug(s2n_errno, "EN"));
    exit(1);
}

#define CHECK(x, what)            \
    do {                          \
        if ((x) < 0) die_s2n(what); \
    } while (0)

/* ---- options ---------------------------------------------------------------- */

struct opts {
    const char *cert, *key, *ca, *policy, *figure;
    int port;
    double seconds;
    uint64_t bytes;
    size_t chunk;
    uint32_t send_buffer;
    long max_conns;
};

static void usage(void)
{
    fprintf(stderr,
            "usage: s2n_bench server --cert PEM --key PEM [--port N] [--policy P] [--send-buffer N] [--max-conns N]\n"
            "       s2n_bench client --ca PEM --port N --figure full|resumed|bulk|rtt [--seconds S]\n"
            "                        [--bytes N] [--chunk N] [--policy P] [--send-buffer N]\n");
    exit(2);
}

static void parse(int argc, char **argv, struct opts *o)
{
    *o = (struct opts) { .policy = "default_tls13", .seconds = 1.0, .bytes = 64u << 20,
                         .chunk = 16384, .max_conns = 100000000L };
    for (int i = 2; i < argc; i++) {
        const char *k = argv[i];
        if (i + 1 >= argc) usage();
        const char *v = argv[++i];
        if (!strcmp(k, "--cert")) o->cert = v;
        else if (!strcmp(k, "--key")) o->key = v;
        else if (!strcmp(k, "--ca")) o->ca = v;
        else if (!strcmp(k, "--policy")) o->policy = v;
        else if (!strcmp(k, "--figure")) o->figure = v;
        else if (!strcmp(k, "--port")) o->port = atoi(v);
        else if (!strcmp(k, "--seconds")) o->seconds = atof(v);
        else if (!strcmp(k, "--bytes")) o->bytes = strtoull(v, NULL, 10);
        else if (!strcmp(k, "--chunk")) o->chunk = strtoul(v, NULL, 10);
        else if (!strcmp(k, "--send-buffer")) o->send_buffer = strtoul(v, NULL, 10);
        else if (!strcmp(k, "--max-conns")) o->max_conns = atol(v);
        else usage();
    }
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) die(path);
    if (fseek(f, 0, SEEK_END) < 0) die(path);
    long n = ftell(f);
    if (n < 0 || fseek(f, 0, SEEK_SET) < 0) die(path);
    char *buf = malloc((size_t) n + 1);
    if (!buf || fread(buf, 1, (size_t) n, f) != (size_t) n) die(path);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* ---- s2n set-up --------------------------------------------------------------- */

/* The package's allocator: plain malloc (s2n-tls's default mlock()s every
 * buffer). s2n-tls wipes buffers itself before freeing them. */
static int mem_init(void) { return S2N_SUCCESS; }
static int mem_cleanup(void) { return S2N_SUCCESS; }
static int mem_malloc(void **ptr, uint32_t requested, uint32_t *allocated)
{
    *ptr = malloc(requested ? requested : 1);
    if (*ptr == NULL) return S2N_FAILURE;
    *allocated = requested;
    return S2N_SUCCESS;
}
static int mem_free(void *ptr, uint32_t size)
{
    (void) size;
    free(ptr);
    return S2N_SUCCESS;
}

static struct s2n_config *new_config(const struct opts *o)
{
    struct s2n_config *config = s2n_config_new();
    if (!config) die_s2n("s2n_config_new");
    CHECK(s2n_config_set_cipher_preferences(config, o->policy), "set_cipher_preferences");
    CHECK(s2n_config_set_recv_multi_record(config, true), "set_recv_multi_record");
    if (o->send_buffer) CHECK(s2n_config_set_send_buffer_size(config, o->send_buffer), "set_send_buffer_size");
    CHECK(s2n_config_set_session_tickets_onoff(config, 1), "set_session_tickets_onoff");
    return config;
}

static void tune(struct s2n_connection *conn, int fd)
{
    /* s2n_connection_wipe keeps only the mode and the config: set the rest again. */
    CHECK(s2n_connection_set_fd(conn, fd), "set_fd");
    CHECK(s2n_connection_set_blinding(conn, S2N_SELF_SERVICE_BLINDING), "set_blinding");
    CHECK(s2n_connection_prefer_throughput(conn), "prefer_throughput");
    CHECK(s2n_connection_set_recv_buffering(conn, true), "set_recv_buffering");
}

static void nodelay(int fd)
{
    int one = 1;
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) die("TCP_NODELAY");
}

/* ---- blocking IO helpers: 1 done, 0 clean end of data, -1 s2n error -------------- */

static int send_all(struct s2n_connection *conn, const uint8_t *buf, size_t n)
{
    s2n_blocked_status blocked;
    while (n) {
        ssize_t w = s2n_send(conn, buf, (ssize_t) n, &blocked);
        if (w < 0) return -1;
        buf += w;
        n -= (size_t) w;
    }
    return 1;
}

/* Reads exactly n bytes (multi-record receive would otherwise wait to fill more). */
static int recv_exact(struct s2n_connection *conn, uint8_t *buf, size_t n)
{
    s2n_blocked_status blocked;
    size_t got = 0;
    while (got < n) {
        ssize_t r = s2n_recv(conn, buf + got, (ssize_t) (n - got), &blocked);
        if (r < 0) return -1;
        if (r == 0) {
            if (got) {
                fprintf(stderr, "s2n_bench: the peer closed in the middle of a message\n");
                return -1;
            }
            return 0;
        }
        got += (size_t) r;
    }
    return 1;
}

static void report(const char *where)
{
    fprintf(stderr, "s2n_bench server: %s: %s (%s)\n", where, s2n_strerror(s2n_errno, "EN"),
            s2n_strerror_debug(s2n_errno, "EN"));
}

/* ---- server ------------------------------------------------------------------------ */

static int serve_one(struct s2n_connection *conn, uint8_t *buf)
{
    s2n_blocked_status blocked;
    uint8_t mode, ack = 'k';
    if (s2n_negotiate(conn, &blocked) < 0) { report("handshake"); return -1; }
    if (recv_exact(conn, &mode, 1) <= 0) { report("mode byte"); return -1; }
    if (mode == 'h') {
        if (send_all(conn, &ack, 1) < 0) { report("send"); return -1; }
    } else if (mode == 'b') {
        uint8_t len[8];
        if (recv_exact(conn, len, 8) <= 0) { report("bulk length"); return -1; }
        uint64_t left = 0;
        for (int i = 0; i < 8; i++) left = (left << 8) | len[i];
        while (left) {
            size_t want = left < SINK_BUF ? (size_t) left : SINK_BUF;
            ssize_t r = s2n_recv(conn, buf, (ssize_t) want, &blocked);
            if (r <= 0) { report("bulk recv"); return -1; }
            left -= (uint64_t) r;
        }
        if (send_all(conn, &ack, 1) < 0) { report("send"); return -1; }
    } else if (mode == 'e') {
        for (;;) {
            int r = recv_exact(conn, buf, RTT_MSG);
            if (r < 0) { report("echo recv"); return -1; }
            if (r == 0) break; /* close_notify */
            if (send_all(conn, buf, RTT_MSG) < 0) { report("echo send"); return -1; }
        }
    } else {
        fprintf(stderr, "s2n_bench server: unknown mode byte %d\n", mode);
        return -1;
    }
    if (s2n_shutdown(conn, &blocked) < 0) { report("shutdown"); return -1; }
    return 0;
}

static int run_server(const struct opts *o)
{
    if (!o->cert || !o->key) usage();
    struct s2n_config *config = new_config(o);
    char *cert = read_file(o->cert), *key = read_file(o->key);
    struct s2n_cert_chain_and_key *ck = s2n_cert_chain_and_key_new();
    if (!ck) die_s2n("cert_chain_and_key_new");
    CHECK(s2n_cert_chain_and_key_load_pem(ck, cert, key), "load_pem");
    CHECK(s2n_config_add_cert_chain_and_key_to_store(config, ck), "add_cert_chain_and_key");
    /* A fixed ticket key (a benchmark: nothing to protect), the same in every run. */
    static const uint8_t name[] = "bench";
    uint8_t ticket_key[32];
    for (int i = 0; i < 32; i++) ticket_key[i] = (uint8_t) (i * 7 + 1);
    CHECK(s2n_config_add_ticket_crypto_key(config, name, sizeof name - 1, ticket_key,
                                           sizeof ticket_key, 0), "add_ticket_crypto_key");

    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    if (lfd < 0) die("socket");
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t) o->port) };
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *) &addr, sizeof addr) < 0) die("bind");
    if (listen(lfd, 64) < 0) die("listen");
    socklen_t alen = sizeof addr;
    if (getsockname(lfd, (struct sockaddr *) &addr, &alen) < 0) die("getsockname");
    printf("ready %d\n", ntohs(addr.sin_port));
    fflush(stdout);

    struct s2n_connection *conn = s2n_connection_new(S2N_SERVER);
    if (!conn) die_s2n("connection_new");
    CHECK(s2n_connection_set_config(conn, config), "set_config");
    uint8_t *buf = malloc(SINK_BUF);
    if (!buf) die("malloc");
    long errors = 0;
    for (long served = 0; served < o->max_conns;) {
        struct pollfd fds[2] = { { .fd = lfd, .events = POLLIN }, { .fd = 0, .events = POLLIN } };
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            die("poll");
        }
        if (fds[1].revents) {
            char c[64];
            if (read(0, c, sizeof c) <= 0) break; /* stdin closed: the runner is done */
        }
        if (!(fds[0].revents & POLLIN)) continue;
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            die("accept");
        }
        served++;
        nodelay(fd);
        tune(conn, fd);
        if (serve_one(conn, buf) < 0) {
            errors++;
            /* Self-service blinding: s2n_connection_get_delay() says how long
             * a real server should wait before closing. This one serves only
             * the benchmark on loopback, where any error already spoils the
             * run, so it reports the delay and goes on. */
            fprintf(stderr, "s2n_bench server: blinding delay %.1f s not observed (benchmark)\n",
                    (double) s2n_connection_get_delay(conn) / 1e9);
        }
        close(fd);
        CHECK(s2n_connection_wipe(conn), "connection_wipe");
    }
    s2n_connection_free(conn);
    close(lfd);
    return errors ? 1 : 0;
}

/* ---- client -------------------------------------------------------------------------- */

struct ticket {
    uint8_t *data;
    size_t len;
};

static int on_ticket(struct s2n_connection *conn, void *ctx, struct s2n_session_ticket *t)
{
    (void) conn;
    struct ticket *latest = ctx;
    size_t len;
    if (s2n_session_ticket_get_data_len(t, &len) < 0) return S2N_FAILURE;
    uint8_t *data = malloc(len);
    if (!data || s2n_session_ticket_get_data(t, len, data) < 0) {
        free(data);
        return S2N_FAILURE;
    }
    free(latest->data);
    latest->data = data;
    latest->len = len;
    return S2N_SUCCESS;
}

static int connect_port(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) die("socket");
    nodelay(fd);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port) };
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *) &addr, sizeof addr) < 0) die("connect");
    return fd;
}

/* Connects and negotiates; the caller closes with finish(). */
static int open_conn(struct s2n_connection *conn, int port,
                     const struct ticket *session)
{
    s2n_blocked_status blocked;
    int fd = connect_port(port);
    tune(conn, fd);
    CHECK(s2n_set_server_name(conn, "localhost"), "set_server_name");
    if (session && session->len) CHECK(s2n_connection_set_session(conn, session->data, session->len), "set_session");
    CHECK(s2n_negotiate(conn, &blocked), "handshake");
    return fd;
}

static void finish(struct s2n_connection *conn, int fd)
{
    s2n_blocked_status blocked;
    CHECK(s2n_shutdown(conn, &blocked), "shutdown");
    close(fd);
}

static void expect_ack(struct s2n_connection *conn)
{
    uint8_t ack;
    if (recv_exact(conn, &ack, 1) <= 0 || ack != 'k') die_s2n("reading the server's answer");
}

/* One connection of the handshake figures: handshake, 'h', 1 byte back, close. */
static bool one_handshake(struct s2n_connection *conn, int port,
                          const struct ticket *session)
{
    int fd = open_conn(conn, port, session);
    bool resumed = s2n_connection_is_session_resumed(conn) == 1;
    uint8_t mode = 'h';
    if (send_all(conn, &mode, 1) < 0) die_s2n("send");
    expect_ack(conn); /* TLS 1.3: the session ticket arrives before it */
    finish(conn, fd);
    CHECK(s2n_connection_wipe(conn), "connection_wipe");
    return resumed;
}

static void print_result(struct s2n_connection *conn, double value, double count, double secs,
                         bool resumed)
{
    const char *group = "-";
    if (s2n_connection_get_key_exchange_group(conn, &group) < 0) group = "-";
    const char *cipher = s2n_connection_get_cipher(conn);
    printf("{\"value\": %.3f, \"count\": %.0f, \"seconds\": %.4f, \"cipher\": \"%s\", "
           "\"group\": \"%s\", \"resumed\": %s}\n",
           value, count, secs, cipher ? cipher : "-", group, resumed ? "true" : "false");
}

static int run_client(const struct opts *o)
{
    if (!o->ca || !o->port || !o->figure || !(o->seconds > 0)) usage();
    struct s2n_config *config = new_config(o);
    CHECK(s2n_config_set_verification_ca_location(config, o->ca, NULL), "set_verification_ca_location");
    struct ticket latest = { 0 };
    CHECK(s2n_config_set_session_ticket_cb(config, on_ticket, &latest), "set_session_ticket_cb");
    struct s2n_connection *conn = s2n_connection_new(S2N_CLIENT);
    if (!conn) die_s2n("connection_new");
    CHECK(s2n_connection_set_config(conn, config), "set_config");

    if (!strcmp(o->figure, "full") || !strcmp(o->figure, "resumed")) {
        struct ticket session = { 0 };
        bool want_resume = !strcmp(o->figure, "resumed");
        if (want_resume) {
            one_handshake(conn, o->port, NULL);
            if (!latest.len) {
                fprintf(stderr, "s2n_bench: the server sent no session ticket\n");
                return 1;
            }
            session = latest; /* keep the first ticket: every connection resumes it */
            latest = (struct ticket) { 0 };
        }
        long n = 0;
        double start = now(), elapsed = 0;
        for (; elapsed < o->seconds && n < 100000000L; elapsed = now() - start) {
            if (one_handshake(conn, o->port, want_resume ? &session : NULL) != want_resume) {
                fprintf(stderr, "s2n_bench: handshake %ld: resumed is not %d\n", n, want_resume);
                return 1;
            }
            n++;
        }
        /* one more, outside the clock, to report what was negotiated */
        int fd = open_conn(conn, o->port, want_resume ? &session : NULL);
        uint8_t mode = 'h';
        if (send_all(conn, &mode, 1) < 0) die_s2n("send");
        expect_ack(conn);
        print_result(conn, n / elapsed, (double) n, elapsed, s2n_connection_is_session_resumed(conn) == 1);
        finish(conn, fd);
    } else if (!strcmp(o->figure, "bulk")) {
        if (!o->chunk) usage();
        uint8_t *data = malloc(o->chunk);
        if (!data) die("malloc");
        for (size_t i = 0; i < o->chunk; i++) data[i] = (uint8_t) (i * 31 + 7);
        int fd = open_conn(conn, o->port, NULL);
        uint8_t head[9] = { 'b' };
        for (int i = 0; i < 8; i++) head[1 + i] = (uint8_t) (o->bytes >> (56 - 8 * i));
        if (send_all(conn, head, sizeof head) < 0) die_s2n("send");
        double start = now();
        for (uint64_t sent = 0; sent < o->bytes;) {
            size_t n = o->bytes - sent < o->chunk ? (size_t) (o->bytes - sent) : o->chunk;
            if (send_all(conn, data, n) < 0) die_s2n("bulk send");
            sent += n;
        }
        expect_ack(conn);
        double elapsed = now() - start;
        print_result(conn, (double) o->bytes / elapsed / 1e6, (double) o->bytes, elapsed, false);
        finish(conn, fd);
    } else if (!strcmp(o->figure, "rtt")) {
        uint8_t msg[RTT_MSG], back[RTT_MSG], mode = 'e';
        memset(msg, 'p', sizeof msg);
        int fd = open_conn(conn, o->port, NULL);
        if (send_all(conn, &mode, 1) < 0) die_s2n("send");
        long n = 0;
        double start = now(), elapsed = 0;
        for (; elapsed < o->seconds && n < 1000000000L; elapsed = now() - start) {
            for (int i = 0; i < RTT_BATCH; i++) {
                if (send_all(conn, msg, sizeof msg) < 0) die_s2n("rtt send");
                if (recv_exact(conn, back, sizeof back) <= 0) die_s2n("rtt recv");
            }
            n += RTT_BATCH;
        }
        print_result(conn, n / elapsed, (double) n, elapsed, false);
        finish(conn, fd);
    } else {
        usage();
    }
    s2n_connection_free(conn);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) usage();
    signal(SIGPIPE, SIG_IGN);
    struct opts o;
    parse(argc, argv, &o);
    if (s2n_mem_set_callbacks(mem_init, mem_cleanup, mem_malloc, mem_free) < 0) die_s2n("mem_set_callbacks");
    if (s2n_init() < 0) die_s2n("s2n_init");
    if (!strcmp(argv[1], "server")) return run_server(&o);
    if (!strcmp(argv[1], "client")) return run_client(&o);
    usage();
    return 2;
}
