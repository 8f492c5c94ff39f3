/* api_test.c: checks the C API from C, in the style of code written for the original headers
 * (it includes only the server header, keeps frames in `struct _SharedMemoryFrame` variables
 * and a fixed table of stream handles). Every check prints nothing unless it fails; the last
 * line says how many passed and failed.
 *
 * usage: api_test DIRECTORY   (a writable directory for the stream files) */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shared_memory_image_client_priv.h"
#include "portable.h"

static int passed, failed;

#define CHECK_EQ(expr, want)                                                               \
    do {                                                                                   \
        long got_ = (long)(expr), want_ = (long)(want);                                    \
        if (got_ == want_) {                                                               \
            passed++;                                                                      \
        } else {                                                                           \
            failed++;                                                                      \
            fprintf(stderr, "%s:%d: %s is %ld, want %ld\n", __FILE__, __LINE__, #expr,     \
                    got_, want_);                                                          \
        }                                                                                  \
    } while (0)

static int make_file(const char *path, long size)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL)
        return 0;
    if (size > 0 && (fseek(f, size - 1, SEEK_SET) != 0 || fputc(0, f) == EOF)) {
        fclose(f);
        return 0;
    }
    return fclose(f) == 0;
}

int main(int argc, char **argv)
{
    char path[4096], small[4096];
    SharedMemoryImageStream streams[4] = {NULL, NULL, NULL, NULL};
    SharedMemoryImageStream server = NULL, client = NULL, stale;
    struct _SharedMemoryFrame frame;
    SharedMemoryFrame locked = NULL;
    static uint8_t pixels[64 * 48 * 3];
    int code;

    if (argc != 2) {
        fprintf(stderr, "usage: %s DIRECTORY\n", argv[0]);
        return 2;
    }
    snprintf(path, sizeof path, "%s/api_test.shm", argv[1]);
    snprintf(small, sizeof small, "%s/api_test_small.shm", argv[1]);
    if (!make_file(path, 25L * 1024 * 1024) || !make_file(small, 1024 * 1024)) {
        fprintf(stderr, "cannot create test files in %s\n", argv[1]);
        return 2;
    }

    /* Version and error strings. */
    CHECK_EQ(strcmp(IMAGESTREAM_API_VERSION, "1.0"), 0);
    for (code = -12; code <= 5; code++) {
        const char *s = SharedMemoryImageStream_errorstring(code);
        CHECK_EQ(s != NULL && s[0] != '\0', 1);
    }
    CHECK_EQ(strcmp(SharedMemoryImageStream_errorstring(IMAGESTREAM_BAD_ARGS),
                    SharedMemoryImageStream_errorstring(IMAGESTREAM_NOT_LOCKED)) != 0, 1);

    /* create: bad arguments and files; the output is left alone on errors. */
    stale = (SharedMemoryImageStream)&streams[3];
    streams[0] = stale;
    CHECK_EQ(SharedMemoryImageStream_create(NULL, IMAGESTREAM_OPTIONS_SERVER, &streams[0]), IMAGESTREAM_BAD_ARGS);
    CHECK_EQ(SharedMemoryImageStream_create(path, IMAGESTREAM_OPTIONS_SERVER, NULL), IMAGESTREAM_BAD_ARGS);
    CHECK_EQ(SharedMemoryImageStream_create(path, 0x200, &streams[0]), IMAGESTREAM_BAD_ARGS);
    CHECK_EQ(SharedMemoryImageStream_create(small, IMAGESTREAM_OPTIONS_SERVER, &streams[0]), IMAGESTREAM_BAD_FILE_SIZE);
    CHECK_EQ(SharedMemoryImageStream_create("/nonexistent/file", 0, &streams[0]), IMAGESTREAM_BAD_FILE_SIZE);
    CHECK_EQ(SharedMemoryImageStream_create(argv[1], 0, &streams[0]), IMAGESTREAM_UNABLE_TO_OPEN_FILE);
    CHECK_EQ(streams[0] == stale, 1);

    /* A server and a client; the stale pointer is not a handle. */
    CHECK_EQ(SharedMemoryImageStream_create(path, IMAGESTREAM_OPTIONS_SERVER, &server), IMAGESTREAM_NOERROR);
    frame.iFrame = 1;
    frame.iWidth = 64;
    frame.iHeight = 48;
    frame.buffer = pixels;
    memset(pixels, 0x42, sizeof pixels);
    CHECK_EQ(SharedMemoryImageStream_putframe(server, &frame), IMAGESTREAM_UNCONNECTED);
    CHECK_EQ(SharedMemoryImageStream_create(path, IMAGESTREAM_OPTIONS_NONE, &client), IMAGESTREAM_NOERROR);
    CHECK_EQ(SharedMemoryImageStream_putframe(stale, &frame), IMAGESTREAM_BAD_ARGS);
    CHECK_EQ(SharedMemoryImageStream_lock(stale, &locked), IMAGESTREAM_BAD_ARGS);

    /* Role errors. */
    CHECK_EQ(SharedMemoryImageStream_putframe(client, &frame), IMAGESTREAM_IS_NOTSERVER);
    CHECK_EQ(SharedMemoryImageStream_lock(server, &locked), IMAGESTREAM_IS_SERVER);
    CHECK_EQ(SharedMemoryImageStream_unlock(server), IMAGESTREAM_IS_SERVER);

    /* putframe argument errors. */
    CHECK_EQ(SharedMemoryImageStream_putframe(server, NULL), IMAGESTREAM_BAD_ARGS);
    frame.iWidth = 0;
    CHECK_EQ(SharedMemoryImageStream_putframe(server, &frame), IMAGESTREAM_BAD_ARGS);
    frame.iWidth = 100000;
    frame.iHeight = 100000;
    CHECK_EQ(SharedMemoryImageStream_putframe(server, &frame), IMAGESTREAM_FRAME_TOO_LARGE);
    frame.iWidth = 64;
    frame.iHeight = 48;
    frame.buffer = NULL;
    CHECK_EQ(SharedMemoryImageStream_putframe(server, &frame), IMAGESTREAM_BAD_ARGS);
    frame.buffer = pixels;

    /* The normal cycle, then both buffers full. */
    CHECK_EQ(SharedMemoryImageStream_lock(client, &locked), IMAGESTREAM_NO_FRAMEAVAILABLE);
    CHECK_EQ(SharedMemoryImageStream_unlock(client), IMAGESTREAM_NOT_LOCKED);
    CHECK_EQ(SharedMemoryImageStream_putframe(server, &frame), IMAGESTREAM_NOERROR);
    frame.iFrame = 2;
    pixels[0] = 7;
    CHECK_EQ(SharedMemoryImageStream_putframe(server, &frame), IMAGESTREAM_NOERROR);
    CHECK_EQ(SharedMemoryImageStream_putframe(server, &frame), IMAGESTREAM_NO_BUFFERAVAILABLE);
    CHECK_EQ(SharedMemoryImageStream_lock(client, NULL), IMAGESTREAM_BAD_ARGS);
    CHECK_EQ(SharedMemoryImageStream_lock(client, &locked), IMAGESTREAM_NOERROR);
    CHECK_EQ(locked->iFrame, 2);
    CHECK_EQ(locked->iWidth, 64);
    CHECK_EQ(locked->iHeight, 48);
    CHECK_EQ(locked->buffer[0], 7);
    CHECK_EQ(locked->buffer[64 * 48 * 3 - 1], 0x42);
    CHECK_EQ(SharedMemoryImageStream_lock(client, &locked), IMAGESTREAM_LOCKED);
    CHECK_EQ(SharedMemoryImageStream_unlock(client), IMAGESTREAM_NOERROR);
    CHECK_EQ(SharedMemoryImageStream_lock(client, &locked), IMAGESTREAM_NO_FRAMEAVAILABLE);

    /* Extensions. */
    CHECK_EQ(SharedMemoryImageStream_lockwait(client, &locked, 5), IMAGESTREAM_NO_FRAMEAVAILABLE);
    CHECK_EQ(SharedMemoryImageStream_beginframe(server, 8, 8, &locked), IMAGESTREAM_NOERROR);
    memset(locked->buffer, 9, 8 * 8 * 3);
    CHECK_EQ(SharedMemoryImageStream_putframe(server, &frame), IMAGESTREAM_LOCKED);
    CHECK_EQ(SharedMemoryImageStream_endframe(server, 3), IMAGESTREAM_NOERROR);
    CHECK_EQ(SharedMemoryImageStream_lockwait(client, &locked, 1000), IMAGESTREAM_NOERROR);
    CHECK_EQ(locked->iFrame, 3);
    CHECK_EQ(locked->buffer[8 * 8 * 3 - 1], 9);
    CHECK_EQ(SharedMemoryImageStream_unlock(client), IMAGESTREAM_NOERROR);

    /* A second client attaches to a stream in progress: RECONNECTING, with a valid handle. */
    CHECK_EQ(SharedMemoryImageStream_create(path, 0, &streams[1]), IMAGESTREAM_RECONNECTING);
    CHECK_EQ(SharedMemoryImageStream_destroy(streams[1]), IMAGESTREAM_NOERROR);
    CHECK_EQ(SharedMemoryImageStream_destroy(streams[1]), IMAGESTREAM_BAD_ARGS);

    /* Destroy; handles are dead afterwards. */
    CHECK_EQ(SharedMemoryImageStream_destroy(client), IMAGESTREAM_NOERROR);
    CHECK_EQ(SharedMemoryImageStream_putframe(server, &frame), IMAGESTREAM_UNCONNECTED);
    CHECK_EQ(SharedMemoryImageStream_destroy(server), IMAGESTREAM_NOERROR);
    CHECK_EQ(SharedMemoryImageStream_lock(client, &locked), IMAGESTREAM_BAD_ARGS);
    CHECK_EQ(SharedMemoryImageStream_unlock(client), IMAGESTREAM_BAD_ARGS);
    CHECK_EQ(SharedMemoryImageStream_putframe(server, &frame), IMAGESTREAM_BAD_ARGS);
    CHECK_EQ(SharedMemoryImageStream_destroy(NULL), IMAGESTREAM_BAD_ARGS);

    /* createfile. */
    {
        char made[4096];
        snprintf(made, sizeof made, "%s/api_test_made.shm", argv[1]);
        CHECK_EQ(SharedMemoryImageStream_createfile(NULL, 8, 8), IMAGESTREAM_BAD_ARGS);
        CHECK_EQ(SharedMemoryImageStream_createfile(made, 0, 8), IMAGESTREAM_BAD_ARGS);
        CHECK_EQ(SharedMemoryImageStream_createfile(made, 3840, 2160), IMAGESTREAM_NOERROR);
        CHECK_EQ(portable_file_size(made), 48L + 2L * 3840 * 2160 * 3);
        remove(made);
    }

    remove(path);
    remove(small);
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
