/* fault_test.c: a stream file truncated under a server and a client. The process must survive
 * (no SIGBUS): the locked frame reads as zeros, and the calls report IMAGESTREAM_BAD_FILE_SIZE.
 *
 * usage: fault_test DIRECTORY */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "shared_memory_image_client_priv.h"

static int passed, failed;

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (cond) {                                                                        \
            passed++;                                                                      \
        } else {                                                                           \
            failed++;                                                                      \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);       \
        }                                                                                  \
    } while (0)

int main(int argc, char **argv)
{
    char path[4096];
    SharedMemoryImageStream server = NULL, client = NULL;
    SharedMemoryFrame locked = NULL;
    struct _SharedMemoryFrame frame;
    static uint8_t pixels[64 * 64 * 3];
    unsigned long sum = 0;
    size_t i;
    int rc;

    if (argc != 2) {
        fprintf(stderr, "usage: %s DIRECTORY\n", argv[0]);
        return 2;
    }
    snprintf(path, sizeof path, "%s/fault_test.shm", argv[1]);
    CHECK(SharedMemoryImageStream_createfile(path, 1920, 1080) == IMAGESTREAM_NOERROR);
    CHECK(SharedMemoryImageStream_create(path, IMAGESTREAM_OPTIONS_SERVER, &server) == IMAGESTREAM_NOERROR);
    CHECK(SharedMemoryImageStream_create(path, IMAGESTREAM_OPTIONS_NONE, &client) == IMAGESTREAM_NOERROR);
    memset(pixels, 0xAB, sizeof pixels);
    frame.iFrame = 1;
    frame.iWidth = 64;
    frame.iHeight = 64;
    frame.buffer = pixels;
    CHECK(SharedMemoryImageStream_putframe(server, &frame) == IMAGESTREAM_NOERROR);
    CHECK(SharedMemoryImageStream_lock(client, &locked) == IMAGESTREAM_NOERROR);
    CHECK(locked->buffer[0] == 0xAB);

    /* Another process would do this; truncate() has the same effect. */
    CHECK(truncate(path, 0) == 0);

    for (i = 0; i < sizeof pixels; i++)
        sum += locked->buffer[i];
    CHECK(sum == 0);
    rc = SharedMemoryImageStream_unlock(client);
    CHECK(rc == IMAGESTREAM_NOERROR || rc == IMAGESTREAM_BAD_FILE_SIZE);
    CHECK(SharedMemoryImageStream_lock(client, &locked) == IMAGESTREAM_BAD_FILE_SIZE);
    CHECK(SharedMemoryImageStream_lockwait(client, &locked, 100) == IMAGESTREAM_BAD_FILE_SIZE);
    CHECK(SharedMemoryImageStream_putframe(server, &frame) == IMAGESTREAM_BAD_FILE_SIZE);
    CHECK(SharedMemoryImageStream_destroy(client) == IMAGESTREAM_NOERROR);
    CHECK(SharedMemoryImageStream_destroy(server) == IMAGESTREAM_NOERROR);
    remove(path);
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
