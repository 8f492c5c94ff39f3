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
    SharedMemoryMapping streams_mapping = NULL, kept_mapping = NULL;
    const uint8_t *kept_pixels = NULL;
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

    /* Keeping a mapping alive: a frame read after unlock and after destroy (the file too is
     * gone below), through a counted reference to the client's mapping. */
    {
        SharedMemoryMapping mapping = NULL, bad = (SharedMemoryMapping)&streams[3];
        const uint8_t *kept;
        frame.iFrame = 4;
        memset(pixels, 0x5C, sizeof pixels);
        CHECK_EQ(SharedMemoryImageStream_putframe(server, &frame), IMAGESTREAM_NOERROR);
        CHECK_EQ(SharedMemoryImageStream_lock(client, &locked), IMAGESTREAM_NOERROR);
        kept = locked->buffer;
        CHECK_EQ(SharedMemoryImageStream_retainmapping(client, NULL), IMAGESTREAM_BAD_ARGS);
        CHECK_EQ(SharedMemoryImageStream_retainmapping(NULL, &mapping), IMAGESTREAM_BAD_ARGS);
        CHECK_EQ(mapping == NULL, 1);
        CHECK_EQ(SharedMemoryImageStream_retainmapping(client, &mapping), IMAGESTREAM_NOERROR);
        CHECK_EQ(mapping != NULL, 1);
        CHECK_EQ(SharedMemoryImageStream_unlock(client), IMAGESTREAM_NOERROR);
        CHECK_EQ(kept[0], 0x5C);
        CHECK_EQ(kept[64 * 48 * 3 - 1], 0x5C);
        CHECK_EQ(SharedMemoryImageStream_releasemapping(bad), IMAGESTREAM_BAD_ARGS);
        CHECK_EQ(SharedMemoryImageStream_releasemapping(NULL), IMAGESTREAM_BAD_ARGS);
        /* The server's mapping can be retained too (for frames written through beginframe). */
        CHECK_EQ(SharedMemoryImageStream_retainmapping(server, &streams_mapping), IMAGESTREAM_NOERROR);
        kept_mapping = mapping;
        kept_pixels = kept;
    }

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

    /* The retained mappings outlive both streams and the file's name. */
    CHECK_EQ(SharedMemoryImageStream_retainmapping(client, &streams_mapping), IMAGESTREAM_BAD_ARGS);
    remove(path);
    CHECK_EQ(kept_pixels[1], 0x5C);
    CHECK_EQ(kept_pixels[64 * 48 * 3 - 2], 0x5C);
    CHECK_EQ(SharedMemoryImageStream_releasemapping(kept_mapping), IMAGESTREAM_NOERROR);
    CHECK_EQ(SharedMemoryImageStream_releasemapping(kept_mapping), IMAGESTREAM_BAD_ARGS);
    CHECK_EQ(SharedMemoryImageStream_releasemapping(streams_mapping), IMAGESTREAM_NOERROR);

    /* Broadcast streams: one server, readers attaching with the original call. */
    {
        char bpath[4096];
        SharedMemoryImageStream bserver = NULL, readers[3] = {NULL, NULL, NULL};
        int r;
        snprintf(bpath, sizeof bpath, "%s/api_test_broadcast.shm", argv[1]);
        remove(bpath);
        CHECK_EQ(SharedMemoryImageStream_createbroadcast(NULL, 64, 48, 3, 0, &bserver), IMAGESTREAM_BAD_ARGS);
        CHECK_EQ(SharedMemoryImageStream_createbroadcast(bpath, 64, 48, 2, 0, &bserver), IMAGESTREAM_BAD_ARGS);
        CHECK_EQ(SharedMemoryImageStream_createbroadcast(bpath, 64, 48, 3, IMAGESTREAM_OPTIONS_SERVER, &bserver),
                 IMAGESTREAM_BAD_ARGS);
        CHECK_EQ(SharedMemoryImageStream_createbroadcast(bpath, 64, 48, 3, 0, NULL), IMAGESTREAM_BAD_ARGS);
        CHECK_EQ(bserver == NULL, 1);
        CHECK_EQ(SharedMemoryImageStream_createbroadcast(bpath, 64, 48, 3, 0, &bserver), IMAGESTREAM_NOERROR);
        frame.iFrame = 7;
        CHECK_EQ(SharedMemoryImageStream_putframe(bserver, &frame), IMAGESTREAM_UNCONNECTED);
        for (r = 0; r < 3; r++)
            CHECK_EQ(SharedMemoryImageStream_create(bpath, IMAGESTREAM_OPTIONS_NONE, &readers[r]), IMAGESTREAM_NOERROR);
        CHECK_EQ(SharedMemoryImageStream_lock(bserver, &locked), IMAGESTREAM_IS_SERVER);
        CHECK_EQ(SharedMemoryImageStream_putframe(bserver, &frame), IMAGESTREAM_NOERROR);
        for (r = 0; r < 3; r++) {
            CHECK_EQ(SharedMemoryImageStream_lock(readers[r], &locked), IMAGESTREAM_NOERROR);
            CHECK_EQ(locked->iFrame, 7);
            CHECK_EQ(locked->buffer[64 * 48 * 3 - 1], 0x5C);
        }
        for (r = 0; r < 3; r++) {
            CHECK_EQ(SharedMemoryImageStream_unlock(readers[r]), IMAGESTREAM_NOERROR);
            CHECK_EQ(SharedMemoryImageStream_lock(readers[r], &locked), IMAGESTREAM_NO_FRAMEAVAILABLE);
            CHECK_EQ(SharedMemoryImageStream_destroy(readers[r]), IMAGESTREAM_NOERROR);
        }
        CHECK_EQ(SharedMemoryImageStream_destroy(bserver), IMAGESTREAM_NOERROR);
        CHECK_EQ(strcmp(SharedMemoryImageStream_errorstring(IMAGESTREAM_TOO_MANY_READERS),
                        SharedMemoryImageStream_errorstring(-13)) != 0, 1);
        remove(bpath);
    }

    /* createfile. */
    {
        char made[4096];
        snprintf(made, sizeof made, "%s/api_test_made.shm", argv[1]);
        CHECK_EQ(SharedMemoryImageStream_createfile(NULL, 8, 8), IMAGESTREAM_BAD_ARGS);
        CHECK_EQ(SharedMemoryImageStream_createfile(made, 0, 8), IMAGESTREAM_BAD_ARGS);
        CHECK_EQ(SharedMemoryImageStream_createfile(made, 3840, 2160), IMAGESTREAM_NOERROR);
        CHECK_EQ(portable_file_size(made), 48L + 2L * 3840 * 2160 * 3);
        remove(made);
        CHECK_EQ(SharedMemoryImageStream_createfilemode(made, 8, 8, 0400), IMAGESTREAM_BAD_ARGS);
        CHECK_EQ(SharedMemoryImageStream_createfilemode(made, 8, 8, 01660), IMAGESTREAM_BAD_ARGS);
        CHECK_EQ(SharedMemoryImageStream_createfilemode(made, 8, 8, 0660), IMAGESTREAM_NOERROR);
        CHECK_EQ(portable_file_size(made), 10L * 1024 * 1024);
        remove(made);
    }

    remove(path);
    remove(small);
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
