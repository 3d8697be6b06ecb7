/* c10k HOST PORT N SERVER_PID [PROBES]
 *
 * Holds N idle connections to an echo server and checks that it still serves:
 *  1. opens N connections (each connect bounded by 10 s) and leaves them idle;
 *  2. reads the server's VmRSS and VmHWM from /proc/SERVER_PID/status;
 *  3. while they are held, PROBES new clients (default 20) each connect, send a line and
 *     wait for its echo: the time from connect() to the echo is the answer time;
 *  4. wakes them all: each sends its own line ("conn 123\n"), then each echo is read back
 *     (bounded by 10 s per connection) and compared;
 *  5. reads the server's memory again and closes everything.
 * Prints "key value" lines. Exit 0 when every connection and probe worked.
 */
#define _GNU_SOURCE
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct addrinfo *target;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static long status_kib(int pid, const char *key) {
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    long value = -1;
    if (!f) return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, strlen(key)) == 0) value = atol(line + strlen(key) + 1);
    fclose(f);
    return value;
}

static int open_connection(void) {
    int fd = socket(target->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct timeval tv = {10, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, target->ai_addr, target->ai_addrlen) != 0) { close(fd); return -1; }
    return fd;
}

/* Reads exactly len bytes (or fails on a timeout or end of file). */
static int read_exactly(int fd, char *buf, size_t len) {
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n <= 0) return 0;
        got += (size_t)n;
    }
    return 1;
}

static int compare_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: c10k HOST PORT N SERVER_PID [PROBES]\n"); return 2; }
    long n = atol(argv[3]);
    int pid = atoi(argv[4]);
    int probes = argc > 5 ? atoi(argv[5]) : 20;
    if (n < 1 || n > 1000000 || probes < 1 || probes > 10000) { fprintf(stderr, "bad N\n"); return 2; }
    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if ((long)rl.rlim_cur < n + 64) { fprintf(stderr, "descriptor limit %ld < N\n", (long)rl.rlim_cur); return 2; }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST};
    if (getaddrinfo(argv[1], argv[2], &hints, &target) != 0) { fprintf(stderr, "bad address\n"); return 2; }

    printf("rss_start_kib %ld\n", status_kib(pid, "VmRSS:"));
    int *fds = calloc((size_t)n, sizeof *fds);
    long opened = 0;
    double t0 = now();
    for (long i = 0; i < n; i++) {
        fds[i] = open_connection();
        if (fds[i] >= 0) opened++;
    }
    printf("connections %ld\nopened %ld\nopen_seconds %.3f\n", n, opened, now() - t0);
    /* The server accepts asynchronously: let it take the last ones before measuring. */
    for (int i = 0; i < 50; i++) usleep(20000);
    printf("rss_held_kib %ld\n", status_kib(pid, "VmRSS:"));

    double *times = calloc((size_t)probes, sizeof *times);
    int probes_ok = 0;
    for (int p = 0; p < probes; p++) {
        char line[32], back[32];
        int len = snprintf(line, sizeof line, "probe %d\n", p);
        double start = now();
        int fd = open_connection();
        int ok = fd >= 0 && write(fd, line, (size_t)len) == len && read_exactly(fd, back, (size_t)len) &&
                 memcmp(line, back, (size_t)len) == 0;
        times[p] = (now() - start) * 1000;
        if (fd >= 0) close(fd);
        probes_ok += ok;
        usleep(10000);
    }
    qsort(times, (size_t)probes, sizeof *times, compare_double);
    printf("probes %d\nprobes_ok %d\nprobe_ms_median %.3f\nprobe_ms_max %.3f\n", probes, probes_ok,
           times[probes / 2], times[probes - 1]);

    long sent = 0, echoed = 0;
    t0 = now();
    for (long i = 0; i < n; i++) {
        char line[32];
        int len = snprintf(line, sizeof line, "conn %ld\n", i);
        if (fds[i] >= 0 && write(fds[i], line, (size_t)len) == len) sent++;
    }
    for (long i = 0; i < n; i++) {
        char line[32], back[32];
        int len = snprintf(line, sizeof line, "conn %ld\n", i);
        if (fds[i] >= 0 && read_exactly(fds[i], back, (size_t)len) && memcmp(line, back, (size_t)len) == 0)
            echoed++;
    }
    printf("woken %ld\nechoed_ok %ld\nwake_seconds %.3f\n", sent, echoed, now() - t0);
    printf("rss_after_wake_kib %ld\nhwm_kib %ld\n", status_kib(pid, "VmRSS:"), status_kib(pid, "VmHWM:"));
    for (long i = 0; i < n; i++)
        if (fds[i] >= 0) close(fds[i]);
    return !(opened == n && probes_ok == probes && echoed == n);
}
