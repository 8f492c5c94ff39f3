/* portable.h: the few operating system services the examples need beyond standard C, for POSIX
 * systems and for Windows (MinGW): a monotonic clock that all processes on the machine share,
 * sleeping, the size of a file, and mapping a whole file shared and writable.
 *
 * On POSIX systems the including file defines _POSIX_C_SOURCE (200809L) before any #include. */
#ifndef SHMIMG_EXAMPLE_PORTABLE_H
#define SHMIMG_EXAMPLE_PORTABLE_H

#include <stddef.h>

#ifdef _WIN32
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#ifndef NOMINMAX
#define NOMINMAX
#endif
#include <windows.h>
#else
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#endif

/* Seconds on a monotonic clock shared by every process on the machine (CLOCK_MONOTONIC; the
 * performance counter on Windows), so that time stamps taken by two processes compare. */
static inline double portable_now(void)
{
#ifdef _WIN32
    LARGE_INTEGER count, frequency;
    QueryPerformanceCounter(&count);
    QueryPerformanceFrequency(&frequency);
    return (double)count.QuadPart / (double)frequency.QuadPart;
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
#endif
}

/* Sleeps for about `seconds` (nothing when it is not positive). Windows sleeps in whole
 * milliseconds, at the granularity of the system timer. */
static inline void portable_sleep(double seconds)
{
    if (!(seconds > 0))
        return;
#ifdef _WIN32
    {
        double ms = seconds * 1000.0;
        DWORD whole = ms >= 4.0e9 ? (DWORD)4000000000u : (DWORD)ms;
        Sleep(whole < ms ? whole + 1 : whole);
    }
#else
    {
        struct timespec ts;
        ts.tv_sec = (time_t)seconds;
        ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
        nanosleep(&ts, NULL);
    }
#endif
}

/* The size in bytes of the file at `path`, or -1 when it cannot be read. */
static inline long long portable_file_size(const char *path)
{
#ifdef _WIN32
    WIN32_FILE_ATTRIBUTE_DATA data;
    if (!GetFileAttributesExA(path, GetFileExInfoStandard, &data))
        return -1;
    return (long long)(((unsigned long long)data.nFileSizeHigh << 32) | data.nFileSizeLow);
#else
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    return (long long)st.st_size;
#endif
}

/* A whole file mapped shared, readable and writable. */
struct portable_mapping {
    unsigned char *data;
    size_t len;
#ifdef _WIN32
    HANDLE file, section;
#endif
};

/* Maps all of the existing file `path`; returns 1, or 0 on failure (nothing to unmap then).
 * The file may be opened, written and deleted by others meanwhile, as the library allows. */
static inline int portable_map(const char *path, struct portable_mapping *m)
{
#ifdef _WIN32
    LARGE_INTEGER size;
    m->file = CreateFileA(path, GENERIC_READ | GENERIC_WRITE,
                          FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
                          OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
    if (m->file == INVALID_HANDLE_VALUE)
        return 0;
    if (!GetFileSizeEx(m->file, &size) || size.QuadPart <= 0) {
        CloseHandle(m->file);
        return 0;
    }
    m->len = (size_t)size.QuadPart;
    m->section = CreateFileMappingA(m->file, NULL, PAGE_READWRITE, 0, 0, NULL);
    if (m->section == NULL) {
        CloseHandle(m->file);
        return 0;
    }
    m->data = (unsigned char *)MapViewOfFile(m->section, FILE_MAP_ALL_ACCESS, 0, 0, 0);
    if (m->data == NULL) {
        CloseHandle(m->section);
        CloseHandle(m->file);
        return 0;
    }
    return 1;
#else
    struct stat st;
    void *p;
    int fd = open(path, O_RDWR);
    if (fd < 0)
        return 0;
    if (fstat(fd, &st) != 0 || st.st_size <= 0) {
        close(fd);
        return 0;
    }
    m->len = (size_t)st.st_size;
    p = mmap(NULL, m->len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return 0;
    m->data = (unsigned char *)p;
    return 1;
#endif
}

static inline void portable_unmap(struct portable_mapping *m)
{
#ifdef _WIN32
    UnmapViewOfFile(m->data);
    CloseHandle(m->section);
    CloseHandle(m->file);
#else
    munmap(m->data, m->len);
#endif
    m->data = NULL;
}

#endif /* SHMIMG_EXAMPLE_PORTABLE_H */
