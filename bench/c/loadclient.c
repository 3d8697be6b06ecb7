/* loadclient HOST PORT N C [EXPECT_BYTES]
 *
 * Connection-rate load: C threads make N connections in all, one after another in each
 * thread: connect, read to end of file, close. A connection fails when connect or a read
 * fails, a read waits more than 5 s, or EXPECT_BYTES is given and another count arrived.
 * Prints one line: "ok=.. failed=.. seconds=.. conn_per_s=..". Bounded: N connections, and
 * every connect and read by its 5 s timeout. Built by the bench scripts with cc.
 */
#define _GNU_SOURCE
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct addrinfo *target;
static long expect = -1;

struct job { long count, ok, failed; };

static int one_connection(void) {
    char buf[4096];
    int fd = socket(target->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv); /* bounds connect() too */
    if (connect(fd, target->ai_addr, target->ai_addrlen) != 0) { close(fd); return 0; }
    long got = 0;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) got += n;
    close(fd);
    return n == 0 && (expect < 0 || got == expect);
}

static void *run(void *arg) {
    struct job *job = arg;
    for (long i = 0; i < job->count; i++) {
        if (one_connection()) job->ok++;
        else job->failed++;
    }
    return NULL;
}

int main(int argc, char **argv) {
    if (argc < 5) { fprintf(stderr, "usage: loadclient HOST PORT N C [EXPECT_BYTES]\n"); return 2; }
    long n = atol(argv[3]), c = atol(argv[4]);
    if (argc > 5) expect = atol(argv[5]);
    if (n < 1 || c < 1 || c > 1024) { fprintf(stderr, "bad N or C\n"); return 2; }
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST};
    if (getaddrinfo(argv[1], argv[2], &hints, &target) != 0) { fprintf(stderr, "bad address\n"); return 2; }
    struct job *jobs = calloc((size_t)c, sizeof *jobs);
    pthread_t *threads = calloc((size_t)c, sizeof *threads);
    for (long i = 0; i < c; i++) jobs[i].count = n / c + (i < n % c);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < c; i++) pthread_create(&threads[i], NULL, run, &jobs[i]);
    long ok = 0, failed = 0;
    for (long i = 0; i < c; i++) {
        pthread_join(threads[i], NULL);
        ok += jobs[i].ok;
        failed += jobs[i].failed;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("ok=%ld failed=%ld seconds=%.6f conn_per_s=%.1f\n", ok, failed, s, (double)ok / s);
    return failed != 0;
}
