/* wake_test.c: checks that a client waiting in SharedMemoryImageStream_lockwait is woken by the
 * server in another process, as opposed to finding the frame by polling.
 *
 * usage: wake_test server [--no-wake] FILE   (creates FILE and sends frames; start it first)
 *        wake_test client FILE               (receives them and judges; exit status 0 on success)
 *
 * Each frame carries in its first pixels the time it was published, on the monotonic clock the
 * two processes share, and its kind; the client measures how long after that lockwait returned.
 * The server sends frames at irregular times 20 to 120 ms apart, in groups:
 *
 * - five frames with SharedMemoryImageStream_putframe, which wakes a waiting client;
 * - then, 10 ms after the last of them, a control frame written straight into the file, as a
 *   server that wakes nobody (the original library) would.
 *
 * A waiting client of this library sleeps in slices of 0.9 ms until its server has once woken
 * it; from then on it sleeps in slices of up to 50 ms, and drops back to short slices when a
 * frame arrives unannounced. So:
 *
 * - a control frame is seen only when the client's current long slice ends (about 40 ms later).
 *   A median control latency over 20 ms shows that the client did sleep in long slices, which it
 *   does only after a wake-up from the server (in short slices it sees a control frame within a
 *   slice: about 1 ms, or one timer tick of up to 15.6 ms on Windows);
 * - the second to fifth frames of a group arrive while the client sleeps in long slices, at
 *   times chosen 15 ms or more away from a slice's end. Found by polling they would take 15 to
 *   35 ms; a median under 5 ms shows that the server's wake-ups delivered them. (The first frame
 *   of a group arrives while the client is in short slices and is reported on its own.)
 *
 * Both bounds are medians, far from the values either mechanism gives, so a loaded machine does
 * not make the test fail.
 *
 * With --no-wake the server writes every frame straight into the file: the client is then never
 * woken and must say so (exit status 1), which shows that the test tells the two apart. */
#define _POSIX_C_SOURCE 200809L
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared_memory_image_client_priv.h"
#include "portable.h"

#define WIDTH 16
#define HEIGHT 16
#define GROUPS 6
#define WOKEN_PER_GROUP 5
#define CONTROL_DELAY 0.010 /* seconds after the last announced frame of a group */
#define GROUP_GAP 0.080     /* seconds after a control frame */
#define WOKEN_MAX_MS 5.0
#define CONTROL_MIN_MS 20.0

/* Frame kinds, in the byte after the time stamp. */
#define KIND_HELLO 'H'   /* until the client attaches; not measured */
#define KIND_WOKEN 'W'   /* sent with putframe, which wakes the client */
#define KIND_CONTROL 'C' /* written into the file, nobody woken */
#define KIND_END 'E'     /* last frame: then the numbers sent of each kind */

/* Gaps between announced frames, in seconds: never within 15 ms of a multiple of 50 ms. */
static const double gaps[] = {0.020, 0.033, 0.067, 0.085, 0.028, 0.116};

static void sleep_until(double t)
{
    double left;
    while ((left = t - portable_now()) > 0.002)
        portable_sleep(left - 0.002);
    while (portable_now() < t) {
        /* the last two milliseconds are spun: sleeps are coarse on Windows */
    }
}

/* The frame's marker: publication time (seconds), kind, and two counts for KIND_END. */
static void put_marker(uint8_t *rgb, double t, uint8_t kind, uint32_t a, uint32_t b)
{
    memcpy(rgb, &t, sizeof t);
    rgb[sizeof t] = kind;
    memcpy(rgb + sizeof t + 1, &a, sizeof a);
    memcpy(rgb + sizeof t + 1 + sizeof a, &b, sizeof b);
}

static void get_marker(const uint8_t *rgb, double *t, uint8_t *kind, uint32_t *a, uint32_t *b)
{
    memcpy(t, rgb, sizeof *t);
    *kind = rgb[sizeof *t];
    memcpy(a, rgb + sizeof *t + 1, sizeof *a);
    memcpy(b, rgb + sizeof *t + 1 + sizeof *a, sizeof *b);
}

/* Publishes a frame the way a server that never wakes anyone does: straight into a free buffer
 * of the mapped file (layout and state machine of the file format), with no wake-up. Returns 1,
 * or 0 when no buffer is free. */
static int publish_unannounced(const struct portable_mapping *m, uint32_t number, uint8_t kind,
                               uint8_t *rgb)
{
    size_t payload = ((m->len - 2 * sizeof(BufferHeader)) / 2) & ~(size_t)7;
    const uint32_t width = WIDTH, height = HEIGHT, offset = 0;
    int b;
    for (b = 0; b < 2; b++) {
        uint8_t *header = m->data + (size_t)b * (sizeof(BufferHeader) + payload);
        uint8_t *state = header + offsetof(BufferHeader, buffer_state);
        uint8_t expected = IMAGESTREAM_BUFFER_STATE_SERVER;
        if (!__atomic_compare_exchange_n(state, &expected, (uint8_t)IMAGESTREAM_BUFFER_STATE_SERVER_LOCKED,
                                         0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            continue;
        memcpy(header + offsetof(BufferHeader, frame_number), &number, 4);
        memcpy(header + offsetof(BufferHeader, width), &width, 4);
        memcpy(header + offsetof(BufferHeader, height), &height, 4);
        memcpy(header + offsetof(BufferHeader, offset), &offset, 4);
        memcpy(header + offsetof(BufferHeader, num_scanlines), &height, 4);
        put_marker(rgb, portable_now(), kind, 0, 0);
        memcpy(header + sizeof(BufferHeader), rgb, (size_t)WIDTH * HEIGHT * 3);
        __atomic_store_n(state, (uint8_t)IMAGESTREAM_BUFFER_STATE_CLIENT, __ATOMIC_RELEASE);
        return 1;
    }
    return 0;
}

static int run_server(const char *file, int wake)
{
    static uint8_t rgb[WIDTH * HEIGHT * 3];
    struct _SharedMemoryFrame frame;
    SharedMemoryImageStream stream = NULL;
    struct portable_mapping raw;
    SharedMemoryImageError err;
    uint32_t number = 0, woken = 0, control = 0, dropped = 0;
    double t, start;
    int g, i, k = 0;

    err = SharedMemoryImageStream_createfile(file, WIDTH, HEIGHT);
    if (err == IMAGESTREAM_NOERROR)
        err = SharedMemoryImageStream_create(file, IMAGESTREAM_OPTIONS_SERVER, &stream);
    if (err != IMAGESTREAM_NOERROR) {
        fprintf(stderr, "wake_test server: %s: %s\n", file, SharedMemoryImageStream_errorstring(err));
        return 1;
    }
    if (!portable_map(file, &raw)) {
        fprintf(stderr, "wake_test server: cannot map %s\n", file);
        SharedMemoryImageStream_destroy(stream);
        return 1;
    }
    frame.iWidth = WIDTH;
    frame.iHeight = HEIGHT;
    frame.buffer = rgb;

    /* Until a client has attached. */
    start = portable_now();
    do {
        if (portable_now() - start > 30.0) {
            fprintf(stderr, "wake_test server: no client attached in 30 s\n");
            portable_unmap(&raw);
            SharedMemoryImageStream_destroy(stream);
            return 1;
        }
        portable_sleep(0.005);
        frame.iFrame = ++number;
        put_marker(rgb, portable_now(), KIND_HELLO, 0, 0);
        err = SharedMemoryImageStream_putframe(stream, &frame);
    } while (err == IMAGESTREAM_UNCONNECTED);
    if (err != IMAGESTREAM_NOERROR && err != IMAGESTREAM_NO_BUFFERAVAILABLE) {
        fprintf(stderr, "wake_test server: putframe: %s\n", SharedMemoryImageStream_errorstring(err));
        portable_unmap(&raw);
        SharedMemoryImageStream_destroy(stream);
        return 1;
    }

    t = portable_now() + GROUP_GAP;
    for (g = 0; g < GROUPS; g++) {
        for (i = 0; i < WOKEN_PER_GROUP; i++) {
            sleep_until(t);
            frame.iFrame = ++number;
            if (wake) {
                put_marker(rgb, portable_now(), KIND_WOKEN, 0, 0);
                err = SharedMemoryImageStream_putframe(stream, &frame);
            } else {
                err = publish_unannounced(&raw, number, KIND_WOKEN, rgb) ? IMAGESTREAM_NOERROR
                                                                         : IMAGESTREAM_NO_BUFFERAVAILABLE;
            }
            if (err == IMAGESTREAM_NOERROR) {
                woken++;
            } else if (err == IMAGESTREAM_NO_BUFFERAVAILABLE) {
                dropped++; /* the client is late; it judges by what it received */
            } else {
                fprintf(stderr, "wake_test server: putframe: %s\n", SharedMemoryImageStream_errorstring(err));
                break;
            }
            t += gaps[k++ % (int)(sizeof gaps / sizeof gaps[0])];
        }
        t = portable_now() + CONTROL_DELAY;
        sleep_until(t);
        if (err != IMAGESTREAM_NOERROR && err != IMAGESTREAM_NO_BUFFERAVAILABLE)
            break;
        if (publish_unannounced(&raw, ++number, KIND_CONTROL, rgb))
            control++;
        else
            dropped++;
        t += GROUP_GAP;
    }
    if (err == IMAGESTREAM_NOERROR || err == IMAGESTREAM_NO_BUFFERAVAILABLE) {
        sleep_until(t);
        frame.iFrame = ++number;
        put_marker(rgb, portable_now(), KIND_END, woken, control);
        start = portable_now();
        while ((err = SharedMemoryImageStream_putframe(stream, &frame)) == IMAGESTREAM_NO_BUFFERAVAILABLE
               && portable_now() - start < 10.0)
            portable_sleep(0.005);
        if (err != IMAGESTREAM_NOERROR)
            fprintf(stderr, "wake_test server: last frame: %s\n", SharedMemoryImageStream_errorstring(err));
    }

    printf("wake_test server: %u frames %s, %u control frames, %u dropped (client late)\n", woken,
           wake ? "announced" : "written without a wake-up", control, dropped);
    portable_unmap(&raw);
    SharedMemoryImageStream_destroy(stream);
    return err == IMAGESTREAM_NOERROR ? 0 : 1;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Sorts the n values and prints them as "median M ms (n, min..max)"; returns the median. */
static double report(const char *what, double *ms, int n)
{
    double median;
    if (n == 0) {
        printf("  %-46s none\n", what);
        return 0;
    }
    qsort(ms, (size_t)n, sizeof *ms, compare_doubles);
    median = n % 2 ? ms[n / 2] : (ms[n / 2 - 1] + ms[n / 2]) / 2;
    printf("  %-46s median %6.2f ms (%d frames, %.2f..%.2f)\n", what, median, n, ms[0], ms[n - 1]);
    return median;
}

static int run_client(const char *file)
{
    double woken[GROUPS * WOKEN_PER_GROUP], first[GROUPS], control[GROUPS];
    int n_woken = 0, n_first = 0, n_control = 0, ok = 1;
    uint32_t sent_woken = 0, sent_control = 0;
    SharedMemoryImageStream stream = NULL;
    SharedMemoryImageError err;
    uint8_t previous = KIND_HELLO;
    double woken_median, control_median;

    err = SharedMemoryImageStream_create(file, IMAGESTREAM_OPTIONS_NONE, &stream);
    if (err < 0) {
        fprintf(stderr, "wake_test client: %s: %s\n", file, SharedMemoryImageStream_errorstring(err));
        return 1;
    }
    for (;;) {
        SharedMemoryFrame f = NULL;
        double published, latency_ms;
        uint8_t kind;
        err = SharedMemoryImageStream_lockwait(stream, &f, 15000);
        if (err != IMAGESTREAM_NOERROR) {
            fprintf(stderr, "wake_test client: lockwait: %s\n", SharedMemoryImageStream_errorstring(err));
            SharedMemoryImageStream_destroy(stream);
            return 1;
        }
        latency_ms = portable_now();
        if (f->iWidth != WIDTH || f->iHeight != HEIGHT) {
            fprintf(stderr, "wake_test client: unexpected %ux%u frame\n", f->iWidth, f->iHeight);
            SharedMemoryImageStream_destroy(stream);
            return 1;
        }
        get_marker(f->buffer, &published, &kind, &sent_woken, &sent_control);
        SharedMemoryImageStream_unlock(stream);
        latency_ms = (latency_ms - published) * 1e3;
        if (kind == KIND_END)
            break;
        if (kind == KIND_WOKEN && previous == KIND_WOKEN && n_woken < GROUPS * WOKEN_PER_GROUP)
            woken[n_woken++] = latency_ms;
        else if (kind == KIND_WOKEN && previous != KIND_WOKEN && n_first < GROUPS)
            first[n_first++] = latency_ms;
        else if (kind == KIND_CONTROL && n_control < GROUPS)
            control[n_control++] = latency_ms;
        previous = kind;
    }
    SharedMemoryImageStream_destroy(stream);

    printf("wake_test: latency from publication to lockwait returning\n");
    report("first frame of each group:", first, n_first);
    woken_median = report("frames 2 to 5 of each group (announced):", woken, n_woken);
    control_median = report("control frames (written without a wake-up):", control, n_control);
    if (n_woken + n_first < (int)sent_woken * 3 / 4 || n_control < (int)sent_control * 3 / 4
        || n_woken < GROUPS * (WOKEN_PER_GROUP - 1) / 2 || n_control < GROUPS / 2) {
        fprintf(stderr, "wake_test client: too few frames received (%d+%d of %u announced, %d of %u control)\n",
                n_first, n_woken, sent_woken, n_control, sent_control);
        ok = 0;
    }
    if (!(control_median > CONTROL_MIN_MS)) {
        fprintf(stderr, "wake_test client: unannounced frames were seen within %.0f ms: the client was "
                        "not sleeping in long slices, so it was never woken by the server\n", CONTROL_MIN_MS);
        ok = 0;
    }
    if (!(woken_median < WOKEN_MAX_MS)) {
        fprintf(stderr, "wake_test client: announced frames took over %.0f ms: the server's wake-ups "
                        "did not reach the waiting client\n", WOKEN_MAX_MS);
        ok = 0;
    }
    printf("wake_test: %s (announced median %.2f ms < %.0f ms, control median %.2f ms > %.0f ms)\n",
           ok ? "woken by the server" : "FAILED", woken_median, WOKEN_MAX_MS, control_median,
           CONTROL_MIN_MS);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "server") == 0)
        return run_server(argv[2], 1);
    if (argc == 4 && strcmp(argv[1], "server") == 0 && strcmp(argv[2], "--no-wake") == 0)
        return run_server(argv[3], 0);
    if (argc == 3 && strcmp(argv[1], "client") == 0)
        return run_client(argv[2]);
    fprintf(stderr, "usage: %s server [--no-wake] FILE | client FILE\n", argv[0]);
    return 2;
}
