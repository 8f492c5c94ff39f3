/* server.c: streams an animated test pattern through a shared memory image stream.
 *
 * usage: server FILE [WIDTH HEIGHT [FPS [SECONDS]]]
 *
 * Creates FILE if needed (SharedMemoryImageStream_createfile), opens it as a server and sends
 * frames of the pattern in pattern.h at FPS frames per second (0: as fast as possible) for at
 * most SECONDS seconds; once a client has received frames, it stops when that client detaches.
 * Defaults: 320x240, 120 fps, 10 s. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>

#include "shared_memory_image_client_priv.h"
#include "pattern.h"
#include "portable.h"

static void sleep_until(double t)
{
    portable_sleep(t - portable_now());
}

int main(int argc, char **argv)
{
    const char *file;
    uint32_t width = 320, height = 240;
    double fps = 120.0, seconds = 10.0, start;
    SharedMemoryImageStream stream = NULL;
    struct _SharedMemoryFrame frame;
    SharedMemoryImageError err;
    unsigned long delivered = 0, dropped = 0, unconnected = 0;
    uint32_t n;

    if (argc < 2 || argc > 6 || argc == 3) {
        fprintf(stderr, "usage: %s FILE [WIDTH HEIGHT [FPS [SECONDS]]]\n", argv[0]);
        return 2;
    }
    file = argv[1];
    if (argc >= 4) {
        width = (uint32_t)strtoul(argv[2], NULL, 10);
        height = (uint32_t)strtoul(argv[3], NULL, 10);
    }
    if (argc >= 5)
        fps = atof(argv[4]);
    if (argc >= 6)
        seconds = atof(argv[5]);
    if (width == 0 || height == 0) {
        fprintf(stderr, "server: width and height must be positive\n");
        return 2;
    }

    err = SharedMemoryImageStream_createfile(file, width, height);
    if (err != IMAGESTREAM_NOERROR) {
        fprintf(stderr, "server: createfile %s: %s\n", file, SharedMemoryImageStream_errorstring(err));
        return 1;
    }
    err = SharedMemoryImageStream_create(file, IMAGESTREAM_OPTIONS_SERVER, &stream);
    if (err != IMAGESTREAM_NOERROR) {
        fprintf(stderr, "server: create %s: %s\n", file, SharedMemoryImageStream_errorstring(err));
        return 1;
    }

    frame.iWidth = width;
    frame.iHeight = height;
    frame.buffer = (uint8_t *)malloc((size_t)width * height * 3);
    if (frame.buffer == NULL) {
        fprintf(stderr, "server: out of memory\n");
        SharedMemoryImageStream_destroy(stream);
        return 1;
    }

    start = portable_now();
    for (n = 0; portable_now() - start < seconds; n++) {
        frame.iFrame = n;
        pattern_fill(frame.buffer, n, width, height);
        err = SharedMemoryImageStream_putframe(stream, &frame);
        if (err == IMAGESTREAM_NOERROR) {
            delivered++;
        } else if (err == IMAGESTREAM_NO_BUFFERAVAILABLE) {
            dropped++;
        } else if (err == IMAGESTREAM_UNCONNECTED) {
            unconnected++;
            if (delivered > 0)
                break; /* the client that was reading has detached */
        } else {
            fprintf(stderr, "server: putframe: %s\n", SharedMemoryImageStream_errorstring(err));
            break;
        }
        if (fps > 0)
            sleep_until(start + (double)(n + 1) / fps);
    }

    printf("server: %ux%u, %lu delivered, %lu dropped (no buffer), %lu unconnected\n",
           width, height, delivered, dropped, unconnected);
    free(frame.buffer);
    err = SharedMemoryImageStream_destroy(stream);
    if (err != IMAGESTREAM_NOERROR) {
        fprintf(stderr, "server: destroy: %s\n", SharedMemoryImageStream_errorstring(err));
        return 1;
    }
    return delivered > 0 ? 0 : 1;
}
