/* A C program that knows libmlcl only through pkg-config. */
#include <stdio.h>
#include <mlcl.h>

int main(void)
{
    mlcl_rng *rng = NULL;
    uint32_t v[2];
    if (mlcl_version_number() != MLCL_VERSION_NUMBER) { puts("version mismatch"); return 1; }
    if (mlcl_rng_create(&rng, 1) != MLCL_OK) { puts(mlcl_last_error()); return 1; }
    mlcl_rng_u32(rng, v, 2);
    mlcl_rng_free(rng);
    printf("status -1: %s\n", mlcl_status_str(MLCL_EINVAL));
    printf("bad call: %d\n", mlcl_rng_create(NULL, 1));
    printf("message: %s\n", mlcl_last_error());
    return 0;
}
