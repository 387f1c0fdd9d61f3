/* How fast this machine writes memory it has not written before, against
 * memory it has. Maps N GiB of anonymous memory and writes all of it twice;
 * the first pass takes every page fault (and, on a VM, whatever the host
 * does to back a page the guest had left unused), the second none.
 *
 *   cc -O2 -o perf/out/first_touch perf/node/first_touch.c && perf/out/first_touch 2
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static double seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    long gib = argc > 1 ? atol(argv[1]) : 2;
    if (gib < 1 || gib > 64) { fprintf(stderr, "usage: first_touch [GiB, 1-64]\n"); return 2; }
    size_t bytes = (size_t)gib << 30;
    char *memory = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) { perror("mmap"); return 1; }
    double start = seconds();
    memset(memory, 1, bytes);
    double first = seconds() - start;
    start = seconds();
    memset(memory, 2, bytes);
    double second = seconds() - start;
    printf("first write %.0f MB/s, second write %.0f MB/s\n", bytes / first / 1e6, bytes / second / 1e6);
    return 0;
}
