// A C++ program that knows libmlcl only through pkg-config.
#include <cstdio>
#include <mlcl.h>

int main()
{
    mlcl_rng *rng = nullptr;
    uint32_t v[2];
    if (mlcl_version_number() != MLCL_VERSION_NUMBER) { std::puts("version mismatch"); return 1; }
    if (mlcl_rng_create(&rng, 1) != MLCL_OK) { std::puts(mlcl_last_error()); return 1; }
    mlcl_rng_u32(rng, v, 2);
    mlcl_rng_free(rng);
    std::printf("status -1: %s\n", mlcl_status_str(MLCL_EINVAL));
    std::printf("bad call: %d\n", mlcl_rng_create(nullptr, 1));
    std::printf("message: %s\n", mlcl_last_error());
    return 0;
}
