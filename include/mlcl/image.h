/**
 * @file
 * libmlcl — image.h: the SimCLR image augmentations and a bilinear resize.
 *
 * Images are float planes in CHW order (channel, row, column), a batch of n
 * images is n consecutive CHW blocks; values are nominally in [0, 1].
 *
 * mlcl_image_simclr() follows torchvision's SimCLR pipeline
 *
 *     RandomResizedCrop(out, scale, ratio)        (with probability crop_p,
 *                                                   else a plain Resize(out))
 *     RandomHorizontalFlip(flip_p)
 *     RandomApply([ColorJitter(b, c, s, h)], jitter_p)
 *     RandomGrayscale(gray_p)
 *     RandomApply([GaussianBlur(kernel, (sigma_min, sigma_max))], blur_p)
 *
 * with the tensor semantics of torchvision (see docs/images.md):
 *  - crop: area fraction uniform in [scale_min, scale_max], aspect ratio
 *    log-uniform in [ratio_min, ratio_max], width/height rounded half to even,
 *    up to 10 attempts, then the central crop clamped to the ratio bounds;
 *    the crop is resized to out_h x out_w by bilinear interpolation
 *    (align_corners = False, no antialias);
 *  - colour jitter: factors b ~ U[max(0, 1 - brightness), 1 + brightness],
 *    c and s likewise, hue shift ~ U[-hue, hue]; the four adjustments run in a
 *    random order; brightness multiplies, contrast blends with the mean of the
 *    grayscale image, saturation blends with the grayscale image (each clamped
 *    to [0, 1] as torchvision clamps float images), hue rotates H in HSV;
 *  - grayscale: L = 0.299 R + 0.587 G + 0.114 B (ITU-R 601-2) copied to the
 *    3 channels (torchvision's tensor path uses 0.2989 for R);
 *  - blur: separable normalised Gaussian of the given odd size, reflect
 *    padding (mirror without repeating the edge; repeated for kernels wider
 *    than the image).
 * Channels: the colour operations assume RGB when c = 3. With c = 1
 * (grayscale images, e.g. Fashion-MNIST) brightness applies, contrast blends
 * with the image mean, and saturation, hue and grayscale are no-ops. With any
 * other c, only the geometric operations, brightness, contrast (mean over all
 * channels) and blur apply.
 *
 * Random draws: for image i, two 32-bit words are drawn from the caller's
 * generator (in image order, so the caller's generator advances by exactly
 * 2 n words) and seed a private stream for that image; all its parameters
 * come from that stream in this order: crop gate; crop attempts (scale,
 * log-ratio, and on success the top and left offsets); flip gate; jitter gate
 * and, when applied, the order (3 bounded draws, Fisher-Yates on 4) then the
 * brightness, contrast, saturation and hue factors; grayscale gate; blur gate
 * and, when applied, sigma. A gate with probability p applies when u < p for
 * u uniform in [0, 1), so p = 0 never and p = 1 always applies. The result
 * therefore depends only on the generator's state, never on the thread count.
 *
 * Thread-safety: calls on distinct generators may run at once.
 */
#ifndef MLCL_IMAGE_H
#define MLCL_IMAGE_H

#include "core.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Version of mlcl_simclr_options. */
#define MLCL_SIMCLR_OPTIONS_VERSION 1

/**
 * The SimCLR augmentation parameters. Initialise with MLCL_SIMCLR_OPTIONS_INIT
 * or mlcl_simclr_options_init(); the defaults are SimCLR's ImageNet ones.
 */
typedef struct mlcl_simclr_options {
    unsigned int version;   /**< MLCL_SIMCLR_OPTIONS_VERSION */
    int out_h;              /**< output height, >= 0; 0 = the input height */
    int out_w;              /**< output width, >= 0; 0 = the input width */
    float crop_p;           /**< probability of a random resized crop (1); otherwise a plain resize */
    float scale_min;        /**< crop area fraction, lower bound (0.08), in (0, scale_max] */
    float scale_max;        /**< crop area fraction, upper bound (1), <= 1 */
    float ratio_min;        /**< crop aspect ratio w/h, lower bound (3/4), > 0 */
    float ratio_max;        /**< crop aspect ratio w/h, upper bound (4/3), >= ratio_min */
    float flip_p;           /**< horizontal flip probability (0.5) */
    float jitter_p;         /**< colour jitter probability (0.8) */
    float brightness;       /**< brightness strength (0.4), >= 0 */
    float contrast;         /**< contrast strength (0.4), >= 0 */
    float saturation;       /**< saturation strength (0.4), >= 0 */
    float hue;              /**< hue strength (0.1), in [0, 0.5] */
    float gray_p;           /**< random grayscale probability (0.2) */
    float blur_p;           /**< Gaussian blur probability (0.5; 0 disables) */
    float blur_sigma_min;   /**< blur sigma lower bound (0.1), > 0 */
    float blur_sigma_max;   /**< blur sigma upper bound (2), >= blur_sigma_min */
    int blur_kernel;        /**< odd kernel size >= 1; 0 = (int)(0.1 out_h), plus 1 when even (SimCLR) */
} mlcl_simclr_options;

/** The defaults (SimCLR, ImageNet). */
#define MLCL_SIMCLR_OPTIONS_INIT                                                        \
    { MLCL_SIMCLR_OPTIONS_VERSION, 0, 0, 1.0f, 0.08f, 1.0f, 0.75f, 1.33333333f, 0.5f,   \
      0.8f, 0.4f, 0.4f, 0.4f, 0.1f, 0.2f, 0.5f, 0.1f, 2.0f, 0 }

/**
 * Fills @p o with the defaults (MLCL_SIMCLR_OPTIONS_INIT).
 * @param[out] o       the options to fill.
 * @param      version MLCL_SIMCLR_OPTIONS_VERSION.
 * @return MLCL_OK, MLCL_EINVAL (NULL) or MLCL_EVERSION.
 */
MLCL_API int mlcl_simclr_options_init(mlcl_simclr_options *o, unsigned int version);

/**
 * One SimCLR view of each of @p n images (see the file comment for the exact
 * operations and the order of the random draws). Call twice with the same
 * generator for two views.
 *
 * Scratch: when the blur can apply (blur_p > 0 and a kernel size > 1) one
 * block of out_h * out_w + out_w + 2 * kernel floats per worker thread (at
 * most 2) is allocated per call through the allocator hooks and freed before
 * returning; nothing else is allocated.
 *
 * @param[out] dst n x c x out_h x out_w floats; must not overlap @p src.
 * @param[in]  src n x c x h x w finite floats (nominally in [0, 1]).
 * @param      n   images, >= 0 (0: nothing to do).
 * @param      c   channels, > 0 (1 or 3 for the colour operations).
 * @param      h   input height, > 0.
 * @param      w   input width, > 0.
 * @param      o   the options (NULL = the defaults).
 * @param      rng the generator, advanced by 2 n 32-bit draws.
 * @return MLCL_OK, MLCL_EINVAL (an argument or option named), MLCL_EVERSION,
 *         MLCL_ENUMERIC (a non-finite input, its index named), MLCL_EOVERFLOW,
 *         MLCL_ENOMEM.
 */
MLCL_API int mlcl_image_simclr(float *dst, const float *src, int n, int c, int h, int w,
                               const mlcl_simclr_options *o, mlcl_rng *rng);

/**
 * Bilinear resize of each channel plane, align_corners = False, no antialias
 * (torch.nn.functional.interpolate(mode="bilinear"), torchvision Resize with
 * antialias=False): output pixel y samples the input at
 * (y + 0.5) * h / out_h - 0.5, clamped at 0 and at the last row (likewise x).
 * @param[out] dst   n x c x out_h x out_w floats; must not overlap @p src.
 * @param      out_h output height, > 0.
 * @param      out_w output width, > 0.
 * @param[in]  src   n x c x h x w finite floats.
 * @param      n     images, >= 0.
 * @param      c     channels, > 0.
 * @param      h     input height, > 0.
 * @param      w     input width, > 0.
 * @return MLCL_OK, MLCL_EINVAL, MLCL_ENUMERIC (index named), MLCL_EOVERFLOW.
 */
MLCL_API int mlcl_image_resize(float *dst, int out_h, int out_w, const float *src, int n, int c,
                               int h, int w);

#ifdef __cplusplus
}
#endif

#endif /* MLCL_IMAGE_H */
