/* greetfloor PORT TEXT BACKLOG
 *
 * The kernel floor of a greeting server: one blocking loop on 127.0.0.1:PORT that accepts,
 * writes TEXT and closes, nothing else. Runs until the bench script stops it by pid.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc < 4) { fprintf(stderr, "usage: greetfloor PORT TEXT BACKLOG\n"); return 2; }
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[1])),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, atoi(argv[3])) != 0) {
        perror("greetfloor");
        return 1;
    }
    const char *text = argv[2];
    size_t len = strlen(text);
    for (;;) {
        int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) continue;
        if (write(c, text, len) < 0) { /* the client left: nothing to do */ }
        close(c);
    }
}
