/* pattern.h: the deterministic test pattern the example server sends and the example clients
 * check. Every byte depends on the frame number, its position and its channel, so a frame that
 * mixes two frames (torn) or is shifted fails the check. */
#ifndef SHMIMG_EXAMPLE_PATTERN_H
#define SHMIMG_EXAMPLE_PATTERN_H

#include <stddef.h>
#include <stdint.h>

static inline uint8_t pattern_byte(uint32_t frame, uint32_t x, uint32_t y, uint32_t c)
{
    return (uint8_t)(x * (c + 1u) + y * 3u + frame * 7u + c * 85u);
}

/* Fills a width*height RGB frame for frame number `frame`. */
static inline void pattern_fill(uint8_t *rgb, uint32_t frame, uint32_t width, uint32_t height)
{
    size_t i = 0;
    uint32_t x, y, c;
    for (y = 0; y < height; y++)
        for (x = 0; x < width; x++)
            for (c = 0; c < 3; c++)
                rgb[i++] = pattern_byte(frame, x, y, c);
}

/* Returns 1 when `rgb` is exactly the pattern of frame `frame`, else 0. */
static inline int pattern_check(const uint8_t *rgb, uint32_t frame, uint32_t width, uint32_t height)
{
    size_t i = 0;
    uint32_t x, y, c;
    for (y = 0; y < height; y++)
        for (x = 0; x < width; x++)
            for (c = 0; c < 3; c++)
                if (rgb[i++] != pattern_byte(frame, x, y, c))
                    return 0;
    return 1;
}

#endif /* SHMIMG_EXAMPLE_PATTERN_H */
