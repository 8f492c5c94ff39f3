// client.cpp: a C++11 client that waits for frames with the lockwait extension and checks them.
//
// usage: client_cpp FILE [FRAMES]
//
// Reads FRAMES frames (default 100) from a stream fed by the example server, checks every byte
// against pattern.h, and exits 0 when all were right. The stream and each locked frame are held
// by small RAII types, so every path unlocks and destroys.
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "shared_memory_image_client_priv.h"
#include "pattern.h"

namespace {

class Error : public std::runtime_error {
public:
    Error(const std::string &what, SharedMemoryImageError code)
        : std::runtime_error(what + ": " + SharedMemoryImageStream_errorstring(code)) {}
};

class Stream {
public:
    explicit Stream(const char *file) : handle_(NULL) {
        SharedMemoryImageError err =
            SharedMemoryImageStream_create(file, IMAGESTREAM_OPTIONS_NONE, &handle_);
        if (err < 0)
            throw Error(std::string("create ") + file, err);
    }
    ~Stream() { SharedMemoryImageStream_destroy(handle_); }
    SharedMemoryImageStream get() const { return handle_; }

private:
    Stream(const Stream &);
    Stream &operator=(const Stream &);
    SharedMemoryImageStream handle_;
};

// A frame locked for the lifetime of the object; `ok()` is false when none arrived in time.
class LockedFrame {
public:
    LockedFrame(const Stream &s, uint32_t timeout_ms) : stream_(s.get()), frame_(NULL) {
        SharedMemoryImageError err = SharedMemoryImageStream_lockwait(stream_, &frame_, timeout_ms);
        if (err == IMAGESTREAM_NO_FRAMEAVAILABLE)
            frame_ = NULL;
        else if (err != IMAGESTREAM_NOERROR)
            throw Error("lockwait", err);
    }
    ~LockedFrame() {
        if (frame_ != NULL)
            SharedMemoryImageStream_unlock(stream_);
    }
    bool ok() const { return frame_ != NULL; }
    const struct _SharedMemoryFrame &operator*() const { return *frame_; }

private:
    LockedFrame(const LockedFrame &);
    LockedFrame &operator=(const LockedFrame &);
    SharedMemoryImageStream stream_;
    SharedMemoryFrame frame_;
};

} // namespace

int main(int argc, char **argv) {
    if (argc < 2 || argc > 3) {
        std::fprintf(stderr, "usage: %s FILE [FRAMES]\n", argv[0]);
        return 2;
    }
    unsigned long wanted = argc == 3 ? std::strtoul(argv[2], NULL, 10) : 100;
    try {
        Stream stream(argv[1]);
        unsigned long received = 0, bad = 0;
        while (received < wanted) {
            LockedFrame f(stream, 10000);
            if (!f.ok()) {
                std::fprintf(stderr, "client_cpp: no frame for 10 s, giving up\n");
                return 1;
            }
            if (!pattern_check((*f).buffer, (*f).iFrame, (*f).iWidth, (*f).iHeight)) {
                std::fprintf(stderr, "client_cpp: frame %u does not match its pattern\n", (*f).iFrame);
                bad++;
            }
            received++;
        }
        std::printf("client_cpp: %lu frames received, %lu bad\n", received, bad);
        return bad == 0 ? 0 : 1;
    } catch (const std::exception &e) {
        std::fprintf(stderr, "client_cpp: %s\n", e.what());
        return 1;
    }
}
