/* shared_memory_image_client.h: the shared memory image transport, client API. */

#ifndef SHARED_MEMORY_IMAGE_CLIENT_H
#define SHARED_MEMORY_IMAGE_CLIENT_H

/* Generated from the Rust sources (src/ffi) by cbindgen in build.rs. Do not edit. */

#include <stdint.h>

/* API version string of this interface. */
#define IMAGESTREAM_API_VERSION "1.0"


/**
 * Not an error: no client is listening, the frame was not delivered.
 */
#define IMAGESTREAM_UNCONNECTED 4

/**
 * Not an error: the file was already carrying a stream when the client attached.
 */
#define IMAGESTREAM_RECONNECTING 3

/**
 * Not an error: no new frame to read.
 */
#define IMAGESTREAM_NO_FRAMEAVAILABLE 2

/**
 * Not an error: no free buffer, the frame was dropped.
 */
#define IMAGESTREAM_NO_BUFFERAVAILABLE 1

/**
 * Success.
 */
#define IMAGESTREAM_NOERROR 0

/**
 * An argument is invalid (NULL pointer, unknown or destroyed handle, bad size or options).
 */
#define IMAGESTREAM_BAD_ARGS (-1)

/**
 * Unlock without a lock.
 */
#define IMAGESTREAM_NOT_LOCKED (-2)

/**
 * The file is missing or smaller than the 10 MiB minimum.
 */
#define IMAGESTREAM_BAD_FILE_SIZE (-3)

/**
 * The file exists but cannot be opened for reading and writing.
 */
#define IMAGESTREAM_UNABLE_TO_OPEN_FILE (-4)

/**
 * Mapping the file failed.
 */
#define IMAGESTREAM_UNABLE_TO_MAP_FILE (-5)

/**
 * An allocation failed.
 */
#define IMAGESTREAM_MEMORY_ALLOC_ERROR (-6)

/**
 * A background thread could not start (never returned by this implementation).
 */
#define IMAGESTREAM_THREAD_CREATE_ERROR (-7)

/**
 * The call is not valid on a server stream.
 */
#define IMAGESTREAM_IS_SERVER (-8)

/**
 * The call is not valid on a client stream.
 */
#define IMAGESTREAM_IS_NOTSERVER (-9)

/**
 * The frame is larger than one buffer's payload.
 */
#define IMAGESTREAM_FRAME_TOO_LARGE (-10)

/**
 * The call is not legal while a frame is locked.
 */
#define IMAGESTREAM_LOCKED (-11)

/**
 * Options for a client stream.
 */
#define IMAGESTREAM_OPTIONS_NONE 0x00000000

/**
 * Server option: store rows bottom-up relative to the input frame.
 */
#define IMAGESTREAM_OPTIONS_FLIPVERTICAL 0x00000100

/**
 * Opaque stream object; only pointers to it (SharedMemoryImageStream) exist in C.
 */
struct _SharedMemoryImageStream;

/**
 * A result code: one of the IMAGESTREAM_* codes above (0 success, > 0 informational,
 * < 0 error).
 */
typedef int SharedMemoryImageError;

/**
 * Handle of a stream. An opaque value created by SharedMemoryImageStream_create and
 * invalidated by SharedMemoryImageStream_destroy; never dereference it.
 */
typedef struct _SharedMemoryImageStream *SharedMemoryImageStream;

/**
 * One RGB frame.
 */
struct _SharedMemoryFrame {
  /**
   * Frame number.
   */
  uint32_t iFrame;
  /**
   * Width in pixels.
   */
  uint32_t iWidth;
  /**
   * Height in pixels.
   */
  uint32_t iHeight;
  /**
   * iWidth * iHeight * 3 bytes of RGB, row major, rows tightly packed.
   */
  uint8_t *buffer;
};

/**
 * Pointer to a frame.
 */
typedef struct _SharedMemoryFrame *SharedMemoryFrame;

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * Opens a stream on an existing file of at least 10 MiB.
 *
 * With IMAGESTREAM_OPTIONS_INITBUFFERHEADERS in `options` (as in IMAGESTREAM_OPTIONS_SERVER)
 * the stream is a server: both buffer headers are zeroed and set to INIT. Otherwise it is a
 * client, which attaches to the file. IMAGESTREAM_OPTIONS_FLIPVERTICAL makes a server store
 * rows bottom-up. The file is never created or resized here.
 *
 * On a broadcast file (made by SharedMemoryImageStream_createbroadcast) a client becomes one
 * of its readers and the result is IMAGESTREAM_NOERROR whatever the server is doing; a server
 * resumes the broadcast stream with its readers.
 *
 * - `filename`: NUL-terminated path (Unix: any bytes but NUL; Windows: UTF-8, else the ANSI
 *   code page). NULL gives IMAGESTREAM_BAD_ARGS. Only read during the call.
 * - `stream`: where the new handle is written. NULL gives IMAGESTREAM_BAD_ARGS. Left unchanged
 *   on any negative result.
 *
 * Returns IMAGESTREAM_NOERROR; for a client, IMAGESTREAM_RECONNECTING when the file was not
 * freshly initialised (the handle is valid in both cases and must be destroyed);
 * IMAGESTREAM_BAD_ARGS for NULL arguments or option bits outside 0x1FF;
 * IMAGESTREAM_BAD_FILE_SIZE for a missing file or one under 10 MiB;
 * IMAGESTREAM_UNABLE_TO_OPEN_FILE when it cannot be opened read/write;
 * IMAGESTREAM_UNABLE_TO_MAP_FILE when mmap fails;
 * IMAGESTREAM_MEMORY_ALLOC_ERROR when 65536 streams are already open;
 * IMAGESTREAM_TOO_MANY_READERS when a broadcast file has 64 readers already;
 * IMAGESTREAM_IS_SERVER for a server on a broadcast file that a live server already serves.
 *
 * Ownership: the caller owns the returned handle and releases it with
 * SharedMemoryImageStream_destroy. Thread safety: may be called from any thread.
 *
 * # Safety
 * `filename` must be NULL or point to a NUL-terminated string; `stream` must be NULL or point
 * to writable memory for one handle.
 */
SharedMemoryImageError SharedMemoryImageStream_create(const char *filename,
                                                      uint32_t options,
                                                      SharedMemoryImageStream *stream);

/**
 * Locks the newest complete frame of a client stream, without copying it.
 *
 * On success `*frame` points to a frame owned by the stream whose `buffer` points straight into
 * shared memory; both stay valid until SharedMemoryImageStream_unlock or _destroy on this
 * stream. Any buffer reset by a restarted server is re-attached first; of two complete frames
 * the newer is locked and the older dropped; a buffer whose header does not describe a frame
 * that fits is handed back and reported as IMAGESTREAM_NO_FRAMEAVAILABLE. On a broadcast
 * stream, the newest frame is locked if this reader has not had it yet (other readers may hold
 * the same frame; the pixels must only be read).
 *
 * - `stream`: NULL, destroyed or unknown handles give IMAGESTREAM_BAD_ARGS.
 * - `frame`: where the frame pointer is written; NULL gives IMAGESTREAM_BAD_ARGS. Left
 *   unchanged unless the result is IMAGESTREAM_NOERROR.
 *
 * Returns, checked in this order: IMAGESTREAM_BAD_ARGS (bad handle); IMAGESTREAM_IS_SERVER;
 * IMAGESTREAM_LOCKED when a frame is already locked; IMAGESTREAM_BAD_ARGS (NULL `frame`);
 * IMAGESTREAM_BAD_FILE_SIZE when the file shrank under the mapping (seen by the first call
 * that touches the lost pages), when its path was deleted or names another file now, or when
 * a broadcast file was laid out anew (seen within 250 ms); IMAGESTREAM_NO_FRAMEAVAILABLE when
 * there is nothing new; IMAGESTREAM_NOERROR.
 *
 * Thread safety: calls on one handle are serialised; two threads locking one stream get one
 * frame and one IMAGESTREAM_LOCKED. Never blocks. Makes no system call, except at most every
 * 250 ms a check of the path and of the file's length (a cheap clock read decides when).
 *
 * # Safety
 * `frame` must be NULL or point to writable memory for one pointer.
 */
SharedMemoryImageError SharedMemoryImageStream_lock(SharedMemoryImageStream stream,
                                                    SharedMemoryFrame *frame);

/**
 * Unlocks the frame locked with SharedMemoryImageStream_lock; its buffer goes back to the
 * server. The frame's `buffer` pointer is set to NULL: the pixels must not be used any more.
 *
 * - `stream`: NULL, destroyed or unknown handles give IMAGESTREAM_BAD_ARGS.
 *
 * Returns IMAGESTREAM_NOERROR; IMAGESTREAM_IS_SERVER on a server; IMAGESTREAM_NOT_LOCKED when
 * nothing is locked; IMAGESTREAM_BAD_FILE_SIZE when the file shrank under the mapping (the
 * frame is unlocked all the same). Thread safety: calls on one handle are serialised.
 *
 * # Safety
 * Safe to call with any handle value.
 */
SharedMemoryImageError SharedMemoryImageStream_unlock(SharedMemoryImageStream stream);

/**
 * Destroys a stream and invalidates its handle. A client unlocks any locked frame and detaches
 * (the server then gets IMAGESTREAM_UNCONNECTED until a client attaches again); a server gives
 * back any frame begun with SharedMemoryImageStream_beginframe. Buffer states are otherwise
 * left as they are, and the file is unmapped (not deleted).
 *
 * - `stream`: NULL, destroyed or unknown handles give IMAGESTREAM_BAD_ARGS (so destroying twice
 *   is harmless).
 *
 * Returns IMAGESTREAM_NOERROR or IMAGESTREAM_BAD_ARGS. After it returns, frame pointers from
 * this stream are dangling. Thread safety: waits for a call in progress on the same handle;
 * later calls with the handle give IMAGESTREAM_BAD_ARGS.
 *
 * # Safety
 * Safe to call with any handle value.
 */
SharedMemoryImageError SharedMemoryImageStream_destroy(SharedMemoryImageStream stream);

/**
 * A static, NUL-terminated UTF-8 description of a result code: a distinct one for each
 * IMAGESTREAM_* code and a generic one for any other value. Never NULL; the caller must not
 * free it. Thread safety: may be called from any thread.
 */
const char *SharedMemoryImageStream_errorstring(SharedMemoryImageError err);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* SHARED_MEMORY_IMAGE_CLIENT_H */
