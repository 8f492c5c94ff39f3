/* shared_memory_image_client_priv.h: server-side API and extensions of the shared memory
 * image transport. Includes the client API. */

#ifndef SHARED_MEMORY_IMAGE_CLIENT_PRIV_H
#define SHARED_MEMORY_IMAGE_CLIENT_PRIV_H

/* Generated from the Rust sources (src/ffi) by cbindgen in build.rs. Do not edit. */

#include "shared_memory_image_client.h"

/**
 * Server option: create initialises the buffer headers (this makes a server stream).
 */
#define IMAGESTREAM_OPTIONS_INITBUFFERHEADERS 0x00000001

/**
 * Server option: no background thread or mutex (this implementation never starts threads).
 */
#define IMAGESTREAM_OPTIONS_NOTHREADS 0x00000002

/**
 * Options for a server stream.
 */
#define IMAGESTREAM_OPTIONS_SERVER (IMAGESTREAM_OPTIONS_INITBUFFERHEADERS | IMAGESTREAM_OPTIONS_NOTHREADS)

/**
 * Extension: every reader slot of a broadcast stream is taken (64 readers at most).
 */
#define IMAGESTREAM_TOO_MANY_READERS (-12)

/**
 * Buffer state: free for the server to fill.
 */
#define IMAGESTREAM_BUFFER_STATE_SERVER 0

/**
 * Buffer state: the server is writing it.
 */
#define IMAGESTREAM_BUFFER_STATE_SERVER_LOCKED 1

/**
 * Buffer state: holds a complete frame the client has not read.
 */
#define IMAGESTREAM_BUFFER_STATE_CLIENT 2

/**
 * Buffer state: the client is reading it.
 */
#define IMAGESTREAM_BUFFER_STATE_CLIENT_LOCKED 3

/**
 * Buffer state: initialised by a server, no client attached.
 */
#define IMAGESTREAM_BUFFER_STATE_INIT 4

/**
 * Opaque mapping reference; only pointers to it (SharedMemoryMapping) exist in C.
 */
typedef struct _SharedMemoryMapping _SharedMemoryMapping;

/**
 * Handle of a counted reference to a stream's mapping, from
 * SharedMemoryImageStream_retainmapping; released with SharedMemoryImageStream_releasemapping.
 * An opaque value; never dereference it.
 */
typedef struct _SharedMemoryMapping *SharedMemoryMapping;

/**
 * The 24-byte header in front of each of the two buffers in the file (native byte order).
 */
typedef struct BufferHeader {
  /**
   * Frame number.
   */
  uint32_t frame_number;
  /**
   * Width in pixels.
   */
  uint32_t width;
  /**
   * Height in pixels.
   */
  uint32_t height;
  /**
   * First scanline of this block; whole frames use 0.
   */
  uint32_t offset;
  /**
   * Scanlines in this block; whole frames use height.
   */
  uint32_t num_scanlines;
  /**
   * One of the IMAGESTREAM_BUFFER_STATE_* values.
   */
  uint8_t buffer_state;
  /**
   * Zeroed by a server's create; readers ignore it.
   */
  uint8_t pad[3];
} BufferHeader;

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * Extension: creates `filename` if missing, or grows it (never shrinking it), so that `buffers`
 * frames of up to `max_width` x `max_height` fit beside the control data, lays it out as a
 * broadcast stream and returns a server handle. The space is allocated as by
 * SharedMemoryImageStream_createfile, and a new file is readable and writable by its owner
 * only. A file that already carries this very layout (same number of buffers, same frame
 * size) is resumed with the readers still attached (a restarted server); any other file is
 * laid out anew, and the readers of an older layout get IMAGESTREAM_BAD_FILE_SIZE.
 *
 * The handle is an ordinary server: SharedMemoryImageStream_putframe,
 * _beginframe/_endframe/_abortframe and _destroy behave as for any server; _lock and _unlock
 * give IMAGESTREAM_IS_SERVER. putframe returns IMAGESTREAM_UNCONNECTED when no reader is
 * attached and IMAGESTREAM_NO_BUFFERAVAILABLE when every buffer but the newest frame's is held
 * by readers (the frame is dropped: the server never waits for a reader). Readers attach with
 * SharedMemoryImageStream_create(filename, IMAGESTREAM_OPTIONS_NONE, &stream), which returns
 * IMAGESTREAM_NOERROR; each gets every newest frame it has not had yet, and lockwait wakes them
 * all with one call.
 *
 * - `filename`: NUL-terminated path (UTF-8 on Windows, else the ANSI code page); NULL gives
 *   IMAGESTREAM_BAD_ARGS. Only read during the call.
 * - `buffers`: 3 to 64, else IMAGESTREAM_BAD_ARGS.
 * - `options`: 0 or IMAGESTREAM_OPTIONS_FLIPVERTICAL, else IMAGESTREAM_BAD_ARGS.
 * - `stream`: where the new handle is written; NULL gives IMAGESTREAM_BAD_ARGS. Left unchanged
 *   on any negative result.
 *
 * Returns IMAGESTREAM_NOERROR; IMAGESTREAM_BAD_ARGS (as above, or a zero size);
 * IMAGESTREAM_FRAME_TOO_LARGE when the file would be too large for this system;
 * IMAGESTREAM_UNABLE_TO_OPEN_FILE when it cannot be created or opened read/write;
 * IMAGESTREAM_MEMORY_ALLOC_ERROR when there is no space for it (or 65536 streams are open);
 * IMAGESTREAM_UNABLE_TO_MAP_FILE when it cannot be mapped; IMAGESTREAM_IS_SERVER when a live
 * server already serves the file.
 *
 * Ownership: the caller owns the handle and releases it with SharedMemoryImageStream_destroy.
 * Thread safety: may be called from any thread.
 *
 * # Safety
 * `filename` must be NULL or point to a NUL-terminated string; `stream` must be NULL or point
 * to writable memory for one handle.
 */
SharedMemoryImageError SharedMemoryImageStream_createbroadcast(const char *filename,
                                                               uint32_t max_width,
                                                               uint32_t max_height,
                                                               uint32_t buffers,
                                                               uint32_t options,
                                                               SharedMemoryImageStream *stream);

/**
 * Extension: takes a counted reference to the mapping of `stream`, so that every frame address
 * the stream hands out (by lock, lockwait or beginframe), before or after this call, stays
 * mapped and readable until the reference is released, even after unlock, endframe and
 * SharedMemoryImageStream_destroy. What such an address shows after unlock is whatever the
 * other side writes there (the server may reuse the buffer): copy what you keep. Reads through
 * it keep the stream's truncation protection: pages of a file truncated under it read as zeros
 * (never SIGBUS). The reference costs no system call and no memory beyond a handle.
 *
 * - `stream`: a live stream (client or server); NULL, destroyed or unknown handles give
 *   IMAGESTREAM_BAD_ARGS.
 * - `mapping`: where the new reference's handle is written; NULL gives IMAGESTREAM_BAD_ARGS.
 *   Left unchanged on any negative result.
 *
 * Returns IMAGESTREAM_NOERROR; IMAGESTREAM_BAD_ARGS; IMAGESTREAM_MEMORY_ALLOC_ERROR when 65536
 * references are already held.
 *
 * Ownership: the caller owns the reference and releases it with
 * SharedMemoryImageStream_releasemapping (each reference once). Thread safety: may be called
 * from any thread; references are independent of the stream's own calls.
 *
 * # Safety
 * `mapping` must be NULL or point to writable memory for one handle.
 */
SharedMemoryImageError SharedMemoryImageStream_retainmapping(SharedMemoryImageStream stream,
                                                             SharedMemoryMapping *mapping);

/**
 * Extension: releases a reference taken with SharedMemoryImageStream_retainmapping. When it
 * was the last reference and the stream is destroyed, the file is unmapped: addresses the
 * stream handed out must not be used any more.
 *
 * - `mapping`: NULL, released or unknown handles give IMAGESTREAM_BAD_ARGS (so releasing
 *   twice is harmless).
 *
 * Returns IMAGESTREAM_NOERROR or IMAGESTREAM_BAD_ARGS. Thread safety: may be called from any
 * thread.
 *
 * # Safety
 * Safe to call with any handle value.
 */
SharedMemoryImageError SharedMemoryImageStream_releasemapping(SharedMemoryMapping mapping);

/**
 * Copies a frame into a free buffer of a server stream and hands it to the client.
 *
 * - `stream`: NULL, destroyed or unknown handles give IMAGESTREAM_BAD_ARGS.
 * - `frame`: read during the call only (`buffer` must hold iWidth * iHeight * 3 bytes of RGB,
 *   rows top first, tightly packed); NULL, a NULL `buffer` or a zero width or height give
 *   IMAGESTREAM_BAD_ARGS. The caller keeps ownership of both.
 *
 * Returns, checked in this order: IMAGESTREAM_BAD_ARGS (bad handle); IMAGESTREAM_IS_NOTSERVER
 * on a client; IMAGESTREAM_BAD_ARGS (bad frame); IMAGESTREAM_FRAME_TOO_LARGE when
 * iWidth * iHeight * 3 exceeds a buffer's payload; IMAGESTREAM_LOCKED between
 * SharedMemoryImageStream_beginframe and _endframe; IMAGESTREAM_BAD_FILE_SIZE when the file
 * shrank under the mapping (or a broadcast file was laid out anew); IMAGESTREAM_UNCONNECTED
 * when no client is attached and IMAGESTREAM_NO_BUFFERAVAILABLE when both buffers are busy, or
 * on a broadcast stream every buffer but the newest frame's is held by readers (the frame is
 * dropped and shared memory is unchanged in both cases); IMAGESTREAM_NOERROR.
 *
 * With IMAGESTREAM_OPTIONS_FLIPVERTICAL, input row r is stored as row iHeight-1-r. The copy is
 * the only work proportional to the frame: no allocation, no system call. Thread safety: calls
 * on one handle are serialised.
 *
 * # Safety
 * `frame` must be NULL or point to a readable frame whose `buffer`, if not NULL, points to at
 * least iWidth * iHeight * 3 readable bytes that no one writes during the call.
 */
SharedMemoryImageError SharedMemoryImageStream_putframe(SharedMemoryImageStream stream,
                                                        SharedMemoryFrame frame);

/**
 * Extension: creates `filename`, or grows an existing file, so that frames up to
 * `max_width` x `max_height` fit; never smaller than the 10 MiB minimum, never shrunk, existing
 * contents kept. The space is really allocated (fallocate on Linux), so a full file
 * system fails here rather than with SIGBUS later. A file this call creates is readable and
 * writable by its owner only (mode 0600 on Unix whatever the umask; on Windows an access list
 * granting the current user alone); an existing file keeps its permissions. See
 * SharedMemoryImageStream_createfilemode for files shared with a group.
 *
 * - `filename`: NUL-terminated path (UTF-8 on Windows, else the ANSI code page); NULL gives
 *   IMAGESTREAM_BAD_ARGS. Only read during the call.
 *
 * Returns IMAGESTREAM_NOERROR; IMAGESTREAM_BAD_ARGS for NULL or a zero size;
 * IMAGESTREAM_FRAME_TOO_LARGE when the size cannot be a file; IMAGESTREAM_UNABLE_TO_OPEN_FILE
 * when the file cannot be created or opened read/write; IMAGESTREAM_MEMORY_ALLOC_ERROR when
 * there is no space for it. Thread safety: may be called from any thread.
 *
 * # Safety
 * `filename` must be NULL or point to a NUL-terminated string.
 */
SharedMemoryImageError SharedMemoryImageStream_createfile(const char *filename,
                                                          uint32_t max_width,
                                                          uint32_t max_height);

/**
 * Extension: SharedMemoryImageStream_createfile with the permission bits a new file gets, for
 * example 0660 for a group of users who share streams on purpose. The bits are set exactly,
 * whatever the umask; an existing file keeps its own. On Windows, a `mode` that grants nothing
 * to group and others (0600) gives the owner-only access list, any other the access list the
 * file inherits from its folder.
 *
 * - `filename`: as for createfile.
 * - `mode`: Unix permission bits; must include 0600 (owner read and write) and nothing outside
 *   0777, else IMAGESTREAM_BAD_ARGS.
 *
 * Returns the codes of SharedMemoryImageStream_createfile. Thread safety: may be called from
 * any thread.
 *
 * # Safety
 * `filename` must be NULL or point to a NUL-terminated string.
 */
SharedMemoryImageError SharedMemoryImageStream_createfilemode(const char *filename,
                                                              uint32_t max_width,
                                                              uint32_t max_height,
                                                              uint32_t mode);

/**
 * Extension: like SharedMemoryImageStream_lock, but when no frame is available it blocks until
 * one arrives or `timeout_ms` milliseconds pass (then IMAGESTREAM_NO_FRAMEAVAILABLE). A timeout
 * of 0 makes it behave exactly like lock.
 *
 * A server of this library wakes the waiter at once (on Linux through a futex on the 4-byte
 * word at header offset 20, on Windows through a named semaphore derived from the file's
 * identity; on a broadcast stream one call wakes every waiting reader); with a server that
 * wakes nobody (the original library) a new frame is still returned within about 1 ms.
 * Waiting uses no CPU. While waiting, the stream checks every
 * 250 ms that its path still names the file it mapped; a deleted or replaced file ends the wait
 * with IMAGESTREAM_BAD_FILE_SIZE (as does a file that shrank under the mapping).
 *
 * - `stream`: NULL, destroyed or unknown handles give IMAGESTREAM_BAD_ARGS.
 * - `frame`: as for lock; NULL gives IMAGESTREAM_BAD_ARGS.
 *
 * Returns the codes of SharedMemoryImageStream_lock, in the same order. Thread safety: the
 * handle is not held while sleeping, so other threads may use it; a destroy from another thread
 * wakes the wait, which then returns IMAGESTREAM_BAD_ARGS.
 *
 * # Safety
 * `frame` must be NULL or point to writable memory for one pointer.
 */
SharedMemoryImageError SharedMemoryImageStream_lockwait(SharedMemoryImageStream stream,
                                                        SharedMemoryFrame *frame,
                                                        uint32_t timeout_ms);

/**
 * Extension: takes a free buffer of a server stream so the caller can render or read back a
 * `width` x `height` RGB frame straight into shared memory (no copy). On success `*frame`
 * points to a frame owned by the stream whose `buffer` is the buffer's payload (rows top first;
 * FLIPVERTICAL does not apply), valid until SharedMemoryImageStream_endframe or _destroy. Its
 * `iFrame` is ignored: endframe sets the number.
 *
 * - `stream`: NULL, destroyed or unknown handles give IMAGESTREAM_BAD_ARGS.
 * - `frame`: where the frame pointer is written; NULL gives IMAGESTREAM_BAD_ARGS. Left
 *   unchanged unless the result is IMAGESTREAM_NOERROR.
 *
 * Returns, in this order: IMAGESTREAM_BAD_ARGS (bad handle); IMAGESTREAM_IS_NOTSERVER;
 * IMAGESTREAM_BAD_ARGS (NULL `frame`, zero width or height); IMAGESTREAM_FRAME_TOO_LARGE;
 * IMAGESTREAM_LOCKED when a frame is already begun; IMAGESTREAM_BAD_FILE_SIZE as for putframe;
 * IMAGESTREAM_UNCONNECTED or IMAGESTREAM_NO_BUFFERAVAILABLE when no buffer is free (nothing
 * changes; try again later);
 * IMAGESTREAM_NOERROR. Until endframe, putframe and another beginframe give IMAGESTREAM_LOCKED;
 * destroy gives the buffer back unpublished. Thread safety: calls on one handle are serialised.
 *
 * # Safety
 * `frame` must be NULL or point to writable memory for one pointer.
 */
SharedMemoryImageError SharedMemoryImageStream_beginframe(SharedMemoryImageStream stream,
                                                          uint32_t width,
                                                          uint32_t height,
                                                          SharedMemoryFrame *frame);

/**
 * Extension: publishes the frame begun with SharedMemoryImageStream_beginframe as number
 * `frame_number` and wakes a waiting client. The frame pointer from beginframe must not be used
 * afterwards (its `buffer` is set to NULL).
 *
 * - `stream`: NULL, destroyed or unknown handles give IMAGESTREAM_BAD_ARGS.
 *
 * Returns IMAGESTREAM_NOERROR; IMAGESTREAM_IS_NOTSERVER on a client; IMAGESTREAM_NOT_LOCKED when
 * no frame is begun; IMAGESTREAM_BAD_FILE_SIZE as for putframe. Thread safety: calls on one
 * handle are serialised.
 *
 * # Safety
 * Safe to call with any handle value.
 */
SharedMemoryImageError SharedMemoryImageStream_endframe(SharedMemoryImageStream stream,
                                                        uint32_t frame_number);

/**
 * Extension: gives back the buffer of a frame begun with SharedMemoryImageStream_beginframe
 * without publishing it (for a renderer that fails mid-frame). The frame pointer from
 * beginframe must not be used afterwards.
 *
 * - `stream`: NULL, destroyed or unknown handles give IMAGESTREAM_BAD_ARGS.
 *
 * Returns IMAGESTREAM_NOERROR; IMAGESTREAM_IS_NOTSERVER on a client; IMAGESTREAM_NOT_LOCKED when
 * no frame is begun. Thread safety: calls on one handle are serialised.
 *
 * # Safety
 * Safe to call with any handle value.
 */
SharedMemoryImageError SharedMemoryImageStream_abortframe(SharedMemoryImageStream stream);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* SHARED_MEMORY_IMAGE_CLIENT_PRIV_H */
