/* fault_test.c: a stream file changed under a server and a client.
 *
 * POSIX: the file is truncated. The process must survive (no SIGBUS): the locked frame reads as
 * zeros, and the calls report IMAGESTREAM_BAD_FILE_SIZE.
 *
 * Windows: a file cannot shrink while a view of it is mapped, so truncating it is refused
 * (ERROR_USER_MAPPED_FILE) and both streams keep working. Then, while a client waits in
 * SharedMemoryImageStream_lockwait, the file is replaced (renamed, and a new file created under
 * its name) and, with a new pair of streams, deleted (the library opens it with
 * FILE_SHARE_DELETE): the wait ends with IMAGESTREAM_BAD_FILE_SIZE within a second (the library
 * checks every 250 ms that the path still names the file it mapped). Under Wine a deleted file keeps its name until its
 * last handle closes and is not reported as delete-pending, so the deletion cannot be seen while
 * the streams are open; the test checks that this is what happens there (the wait goes on and
 * the next frame arrives), and that the name is gone once both streams are destroyed.
 *
 * usage: fault_test DIRECTORY */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>

#include "shared_memory_image_client_priv.h"
#include "portable.h"

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

#ifdef _WIN32
static int under_wine(void)
{
    HMODULE ntdll = GetModuleHandleA("ntdll.dll");
    return ntdll != NULL && GetProcAddress(ntdll, "wine_get_version") != NULL;
}

/* Sets the length of the file at `path` through a handle of its own, as another process would.
 * Returns 0, or the Windows error code. */
static DWORD set_file_length(const char *path, long long length)
{
    HANDLE h = CreateFileA(path, GENERIC_WRITE,
                           FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
                           OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
    LARGE_INTEGER at;
    DWORD err = 0;
    if (h == INVALID_HANDLE_VALUE)
        return GetLastError();
    at.QuadPart = length;
    if (!SetFilePointerEx(h, at, NULL, FILE_BEGIN) || !SetEndOfFile(h))
        err = GetLastError();
    CloseHandle(h);
    return err;
}

/* A SharedMemoryImageStream_lockwait call (10 s timeout) on a thread of its own. */
struct waiter {
    SharedMemoryImageStream stream;
    HANDLE thread;
    SharedMemoryImageError result;
    uint32_t frame_number;
    double returned_at;
};

static DWORD WINAPI waiter_main(LPVOID arg)
{
    struct waiter *w = (struct waiter *)arg;
    SharedMemoryFrame f = NULL;
    w->result = SharedMemoryImageStream_lockwait(w->stream, &f, 10000);
    w->returned_at = portable_now();
    if (w->result == IMAGESTREAM_NOERROR) {
        w->frame_number = f->iFrame;
        SharedMemoryImageStream_unlock(w->stream);
    }
    return 0;
}

/* Starts a waiter on `stream` and gives it time to go to sleep in lockwait. */
static int start_waiter(struct waiter *w, SharedMemoryImageStream stream)
{
    w->stream = stream;
    w->result = 1000; /* no such code */
    w->frame_number = 0;
    w->returned_at = 0;
    w->thread = CreateThread(NULL, 0, waiter_main, w, 0, NULL);
    CHECK(w->thread != NULL);
    if (w->thread == NULL)
        return 0;
    portable_sleep(0.2);
    return 1;
}

/* Whether the waiter returned within `seconds`. */
static int waiter_done(struct waiter *w, double seconds)
{
    return WaitForSingleObject(w->thread, (DWORD)(seconds * 1000)) == WAIT_OBJECT_0;
}

static void finish_waiter(struct waiter *w)
{
    CHECK(WaitForSingleObject(w->thread, 15000) == WAIT_OBJECT_0);
    CloseHandle(w->thread);
}

/* Opens a server and a client stream on a new file `path` and sends the client one frame. */
static int open_pair(const char *path, SharedMemoryImageStream *server, SharedMemoryImageStream *client,
                     struct _SharedMemoryFrame *frame)
{
    SharedMemoryFrame locked = NULL;
    int ok = SharedMemoryImageStream_createfile(path, 64, 64) == IMAGESTREAM_NOERROR
             && SharedMemoryImageStream_create(path, IMAGESTREAM_OPTIONS_SERVER, server) == IMAGESTREAM_NOERROR
             && SharedMemoryImageStream_create(path, IMAGESTREAM_OPTIONS_NONE, client) == IMAGESTREAM_NOERROR
             && SharedMemoryImageStream_putframe(*server, frame) == IMAGESTREAM_NOERROR
             && SharedMemoryImageStream_lock(*client, &locked) == IMAGESTREAM_NOERROR
             && SharedMemoryImageStream_unlock(*client) == IMAGESTREAM_NOERROR;
    CHECK(ok);
    return ok;
}

/* While the client waits, the stream file is renamed and a new file takes its name. */
static void replaced_while_waiting(const char *dir, struct _SharedMemoryFrame *frame)
{
    char path[4096], moved[4096];
    SharedMemoryImageStream server = NULL, client = NULL;
    SharedMemoryFrame locked = NULL;
    struct waiter w;
    double at;

    snprintf(path, sizeof path, "%s/fault_test_replaced.shm", dir);
    snprintf(moved, sizeof moved, "%s/fault_test_moved.shm", dir);
    if (!open_pair(path, &server, &client, frame))
        return;
    if (start_waiter(&w, client)) {
        at = portable_now();
        CHECK(MoveFileExA(path, moved, 0));
        CHECK(SharedMemoryImageStream_createfile(path, 64, 64) == IMAGESTREAM_NOERROR);
        finish_waiter(&w);
        printf("file replaced while a client waits in lockwait: \"%s\" after %.0f ms\n",
               SharedMemoryImageStream_errorstring(w.result), (w.returned_at - at) * 1e3);
        CHECK(w.result == IMAGESTREAM_BAD_FILE_SIZE);
        CHECK(w.returned_at - at < 1.0);
        CHECK(SharedMemoryImageStream_lock(client, &locked) == IMAGESTREAM_BAD_FILE_SIZE);
    }
    CHECK(SharedMemoryImageStream_destroy(client) == IMAGESTREAM_NOERROR);
    CHECK(SharedMemoryImageStream_destroy(server) == IMAGESTREAM_NOERROR);
    CHECK(DeleteFileA(path));
    CHECK(DeleteFileA(moved));
}

/* The stream file is deleted while the client waits. */
static void deleted_while_waiting(const char *dir, struct _SharedMemoryFrame *frame)
{
    char path[4096];
    SharedMemoryImageStream server = NULL, client = NULL;
    SharedMemoryFrame locked = NULL;
    struct waiter w;
    double at;

    snprintf(path, sizeof path, "%s/fault_test_deleted.shm", dir);
    if (!open_pair(path, &server, &client, frame))
        return;
    if (start_waiter(&w, client)) {
        at = portable_now();
        CHECK(DeleteFileA(path));
        if (!under_wine()) {
            /* Windows: the name is gone, or names a file pending deletion (which cannot be
             * opened): the wait ends. */
            finish_waiter(&w);
            printf("file deleted while a client waits in lockwait: \"%s\" after %.0f ms\n",
                   SharedMemoryImageStream_errorstring(w.result), (w.returned_at - at) * 1e3);
            CHECK(w.result == IMAGESTREAM_BAD_FILE_SIZE);
            CHECK(w.returned_at - at < 1.0);
            CHECK(SharedMemoryImageStream_lock(client, &locked) == IMAGESTREAM_BAD_FILE_SIZE);
            CHECK(SharedMemoryImageStream_lockwait(client, &locked, 100) == IMAGESTREAM_BAD_FILE_SIZE);
        } else {
            /* Wine: the file keeps its name until its last handle closes, and is not reported
             * as delete-pending, so the deletion cannot be seen: the wait goes on past several
             * identity checks, and the next frame arrives. */
            int named = GetFileAttributesA(path) != INVALID_FILE_ATTRIBUTES;
            int waited = !waiter_done(&w, 1.2);
            printf("file deleted while a client waits in lockwait: %s until closed (Wine), the "
                   "client %s\n", named ? "still named" : "name gone",
                   waited ? "goes on waiting" : "stopped waiting");
            CHECK(named);
            CHECK(waited);
            frame->iFrame++;
            CHECK(SharedMemoryImageStream_putframe(server, frame) == IMAGESTREAM_NOERROR);
            finish_waiter(&w);
            CHECK(w.result == IMAGESTREAM_NOERROR && w.frame_number == frame->iFrame);
        }
    }
    CHECK(SharedMemoryImageStream_destroy(client) == IMAGESTREAM_NOERROR);
    CHECK(SharedMemoryImageStream_destroy(server) == IMAGESTREAM_NOERROR);
    /* Destroy closed every handle: the name is gone and can be used again. */
    CHECK(GetFileAttributesA(path) == INVALID_FILE_ATTRIBUTES);
    CHECK(SharedMemoryImageStream_createfile(path, 64, 64) == IMAGESTREAM_NOERROR);
    CHECK(DeleteFileA(path));
}
#endif

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

#ifdef _WIN32
    {
        long long length = portable_file_size(path);
        DWORD err = set_file_length(path, 0);

        /* Truncation is refused; the file keeps its length and the locked frame its pixels. */
        printf("truncate under both streams: %s (error %lu)\n",
               err == ERROR_USER_MAPPED_FILE ? "refused with ERROR_USER_MAPPED_FILE"
               : err == 0                    ? "allowed"
                                             : "refused",
               (unsigned long)err);
        CHECK(err == ERROR_USER_MAPPED_FILE);
        CHECK(length > 0 && portable_file_size(path) == length);
        for (i = 0; i < sizeof pixels; i++)
            sum += locked->buffer[i];
        CHECK(sum == 0xABul * sizeof pixels);

        /* Both streams keep working. */
        CHECK(SharedMemoryImageStream_unlock(client) == IMAGESTREAM_NOERROR);
        frame.iFrame = 2;
        CHECK(SharedMemoryImageStream_putframe(server, &frame) == IMAGESTREAM_NOERROR);
        rc = SharedMemoryImageStream_lock(client, &locked);
        CHECK(rc == IMAGESTREAM_NOERROR);
        if (rc == IMAGESTREAM_NOERROR) {
            CHECK(locked->iFrame == 2 && locked->buffer[sizeof pixels - 1] == 0xAB);
            CHECK(SharedMemoryImageStream_unlock(client) == IMAGESTREAM_NOERROR);
        }
        CHECK(SharedMemoryImageStream_destroy(client) == IMAGESTREAM_NOERROR);
        CHECK(SharedMemoryImageStream_destroy(server) == IMAGESTREAM_NOERROR);

        replaced_while_waiting(argv[1], &frame);
        deleted_while_waiting(argv[1], &frame);
    }
#else
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
#endif
    remove(path);
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
