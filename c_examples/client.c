/* client.c: polls a shared memory image stream, as the original clients do, and prints the
 * number and size of every frame it receives.
 *
 * usage: client [-v] FILE [FRAMES [OUT.ppm]]
 *
 * Reads FRAMES frames (default 100), then detaches. With -v every frame is checked byte for
 * byte against the pattern of pattern.h (as sent by the example server); a mismatch or a frame
 * number going backwards is an error. With OUT.ppm the last frame is saved as a binary PPM.
 * Gives up after 10 seconds without a frame. Exit status 0 on success. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared_memory_image_client.h"
#include "pattern.h"
#include "portable.h"

static int save_ppm(const char *path, const SharedMemoryFrame frame)
{
    FILE *f = fopen(path, "wb");
    size_t n = (size_t)frame->iWidth * frame->iHeight * 3;
    int ok;
    if (f == NULL)
        return 0;
    fprintf(f, "P6\n%u %u\n255\n", frame->iWidth, frame->iHeight);
    ok = fwrite(frame->buffer, 1, n, f) == n;
    return fclose(f) == 0 && ok;
}

int main(int argc, char **argv)
{
    int verify = 0, arg = 1, failures = 0;
    const char *file, *out = NULL;
    unsigned long wanted = 100, received = 0;
    SharedMemoryImageStream stream = NULL;
    SharedMemoryFrame frame = NULL;
    SharedMemoryImageError err;
    double last_frame_at;
    uint32_t last_number = 0;
    const double poll_interval = 0.0002; /* seconds (Windows sleeps at least 1 ms) */

    if (arg < argc && strcmp(argv[arg], "-v") == 0) {
        verify = 1;
        arg++;
    }
    if (arg >= argc || argc - arg > 3) {
        fprintf(stderr, "usage: %s [-v] FILE [FRAMES [OUT.ppm]]\n", argv[0]);
        return 2;
    }
    file = argv[arg++];
    if (arg < argc)
        wanted = strtoul(argv[arg++], NULL, 10);
    if (arg < argc)
        out = argv[arg++];

    err = SharedMemoryImageStream_create(file, IMAGESTREAM_OPTIONS_NONE, &stream);
    if (err < 0) {
        fprintf(stderr, "client: create %s: %s\n", file, SharedMemoryImageStream_errorstring(err));
        return 1;
    }
    if (err == IMAGESTREAM_RECONNECTING)
        printf("client: attached to a stream already in progress\n");

    last_frame_at = portable_now();
    while (received < wanted) {
        err = SharedMemoryImageStream_lock(stream, &frame);
        if (err == IMAGESTREAM_NO_FRAMEAVAILABLE) {
            if (portable_now() - last_frame_at > 10.0) {
                fprintf(stderr, "client: no frame for 10 s, giving up\n");
                failures++;
                break;
            }
            portable_sleep(poll_interval);
            continue;
        }
        if (err != IMAGESTREAM_NOERROR) {
            fprintf(stderr, "client: lock: %s\n", SharedMemoryImageStream_errorstring(err));
            failures++;
            break;
        }
        last_frame_at = portable_now();
        printf("frame %u %ux%u\n", frame->iFrame, frame->iWidth, frame->iHeight);
        if (verify) {
            if (!pattern_check(frame->buffer, frame->iFrame, frame->iWidth, frame->iHeight)) {
                fprintf(stderr, "client: frame %u does not match its pattern\n", frame->iFrame);
                failures++;
            }
            if (received > 0 && (int32_t)(frame->iFrame - last_number) <= 0) {
                fprintf(stderr, "client: frame %u after %u: out of order\n", frame->iFrame, last_number);
                failures++;
            }
        }
        last_number = frame->iFrame;
        received++;
        if (received == wanted && out != NULL && !save_ppm(out, frame)) {
            fprintf(stderr, "client: cannot write %s\n", out);
            failures++;
        }
        err = SharedMemoryImageStream_unlock(stream);
        if (err != IMAGESTREAM_NOERROR) {
            fprintf(stderr, "client: unlock: %s\n", SharedMemoryImageStream_errorstring(err));
            failures++;
            break;
        }
    }

    err = SharedMemoryImageStream_destroy(stream);
    if (err != IMAGESTREAM_NOERROR) {
        fprintf(stderr, "client: destroy: %s\n", SharedMemoryImageStream_errorstring(err));
        failures++;
    }
    printf("client: %lu frames received%s\n", received, verify ? ", all checked" : "");
    return failures == 0 && received == wanted ? 0 : 1;
}
