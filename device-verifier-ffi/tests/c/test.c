/* C test of the device-verifier C ABI (include/device_verifier.h), built with gcc and run by
 * .ci/steps/ffi.sh: a good imgtool 2.5.0 sample verifies (memory-mapped and through a flash
 * callback), and tampered, rolled-back, wrong-key, truncated and bad-argument cases are refused
 * with the right status.
 *
 * usage: test SAMPLES_DIR   (fixtures/third-party/imgtool-2.5.0-samples)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device_verifier.h"

/* DER SPKI of the imgtool sample key ed25519.pem (test-only). */
static const uint8_t TEST_KEY[44] = {
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00, 0x3a, 0x09, 0x91,
    0xca, 0xbc, 0xa5, 0xc6, 0x63, 0x8a, 0x44, 0x12, 0x7e, 0xe0, 0x81, 0x9a, 0xec, 0x2f, 0x91,
    0x38, 0xbf, 0xc0, 0x2c, 0x92, 0x82, 0xeb, 0x7d, 0x8a, 0xca, 0xcc, 0x8f, 0x71, 0xe9};
/* RFC 8032 section 7.1 TEST 1 public key, as an SPKI: a valid key that signed nothing here. */
static const uint8_t OTHER_KEY[44] = {
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00, 0xd7, 0x5a, 0x98,
    0x01, 0x82, 0xb1, 0x0a, 0xb7, 0xd5, 0x4b, 0xfe, 0xd3, 0xc9, 0x64, 0x07, 0x3a, 0x0e, 0xe1,
    0x72, 0xf3, 0xda, 0xa6, 0x23, 0x25, 0xaf, 0x02, 0x1a, 0x68, 0xf7, 0x07, 0x51, 0x1a};

static int failures;
static int passed;

#define CHECK(cond, ...)                                                                    \
  do {                                                                                      \
    if (cond) {                                                                             \
      passed++;                                                                             \
    } else {                                                                                \
      failures++;                                                                           \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                  \
      fprintf(stderr, __VA_ARGS__);                                                         \
      fputc('\n', stderr);                                                                  \
    }                                                                                       \
  } while (0)

static uint8_t *read_file(const char *dir, const char *name, size_t *len) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    exit(2);
  }
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *data = malloc((size_t)size);
  if (!data || fread(data, 1, (size_t)size, f) != (size_t)size) {
    fprintf(stderr, "cannot read %s\n", path);
    exit(2);
  }
  fclose(f);
  *len = (size_t)size;
  return data;
}

/* A "flash driver" over a memory buffer, counting reads. */
struct mem_flash {
  const uint8_t *data;
  size_t len;
  unsigned reads;
};

static int32_t mem_read(void *ctx, uint32_t offset, uint8_t *buf, size_t len) {
  struct mem_flash *flash = ctx;
  if ((size_t)offset > flash->len || len > flash->len - offset) return -1;
  memcpy(buf, flash->data + offset, len);
  flash->reads++;
  return 0;
}

static FwvStatus verify_mem(const uint8_t *image, size_t len, const FwvKey *keys, size_t num_keys,
                            bool has_floor, uint32_t floor, FwvVerifiedImage *out, FwvError *err) {
  uint8_t buf[256];
  FwvPolicy policy = {keys, num_keys, has_floor, floor};
  return fwv_verify_image_mem(image, len, &policy, buf, sizeof buf, out, err);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s SAMPLES_DIR\n", argv[0]);
    return 2;
  }
  const char *dir = argv[1];
  FwvKey trusted[2] = {{OTHER_KEY, sizeof OTHER_KEY}, {TEST_KEY, sizeof TEST_KEY}};
  FwvVerifiedImage out;
  FwvError err;
  FwvStatus st;

  size_t len;
  uint8_t *image = read_file(dir, "signed-ed25519-seccnt42.bin", &len);

  /* Good image, memory-mapped, key rotation list with the signer second. */
  memset(&out, 0, sizeof out);
  st = verify_mem(image, len, trusted, 2, true, 42, &out, &err);
  CHECK(st == FWV_STATUS_OK, "good image: %d (%s)", st, fwv_status_str(st));
  CHECK(out.has_security_counter && out.security_counter == 42, "counter %u", out.security_counter);
  CHECK(out.key_index == 1, "key index %u", out.key_index);
  CHECK(out.digest_len == 32, "digest len %u", out.digest_len);
  CHECK(out.hdr_size == 0x200 && out.img_size == 4096, "hdr %u img %u", out.hdr_size, out.img_size);
  CHECK(out.signature_kind == FWV_SIGNATURE_KIND_ED25519, "signature kind %d", out.signature_kind);
  CHECK(out.image_len == len, "image_len %u vs %zu", out.image_len, len);

  /* Good image through the flash callback. */
  struct mem_flash mf = {image, len, 0};
  FwvFlash flash = {&mf, (uint32_t)len, mem_read};
  FwvPolicy policy = {trusted, 2, true, 42};
  uint8_t buf[64];
  st = fwv_verify_image(&flash, &policy, buf, sizeof buf, &out, &err);
  CHECK(st == FWV_STATUS_OK, "callback flash: %d (%s)", st, fwv_status_str(st));
  CHECK(mf.reads > 4, "callback used (%u reads)", mf.reads);

  /* tamper: one bit of the body. */
  image[0x200 + 100] ^= 0x01;
  st = verify_mem(image, len, trusted, 2, true, 42, &out, &err);
  CHECK(st == FWV_STATUS_HASH_MISMATCH, "tampered: %d (%s)", st, fwv_status_str(st));
  CHECK(err.status == st, "err.status mirrors the return value");
  image[0x200 + 100] ^= 0x01;

  /* rollback: floor above the image's counter. */
  st = verify_mem(image, len, trusted, 2, true, 43, &out, &err);
  CHECK(st == FWV_STATUS_ROLLBACK, "rollback: %d (%s)", st, fwv_status_str(st));

  /* wrong key: only the unrelated key is trusted. */
  st = verify_mem(image, len, trusted, 1, false, 0, &out, &err);
  CHECK(st == FWV_STATUS_UNTRUSTED_KEY, "untrusted: %d (%s)", st, fwv_status_str(st));

  /* truncated: cut inside the signature TLV. */
  st = verify_mem(image, len - 10, trusted, 2, false, 0, &out, &err);
  CHECK(st != FWV_STATUS_OK, "truncated verified");

  /* Bad arguments. */
  st = verify_mem(NULL, len, trusted, 2, false, 0, &out, &err);
  CHECK(st == FWV_STATUS_NULL_ARGUMENT, "NULL image: %d", st);
  FwvKey bad_key = {TEST_KEY, 43};
  st = verify_mem(image, len, &bad_key, 1, false, 0, &out, &err);
  CHECK(st == FWV_STATUS_BAD_TRUSTED_KEY, "short key: %d", st);
  st = verify_mem(image, len, trusted, 0, false, 0, &out, NULL);
  CHECK(st == FWV_STATUS_TOO_MANY_KEYS, "no keys: %d", st);
  CHECK(strcmp(fwv_status_str(FWV_STATUS_ROLLBACK),
               "security counter below the device's floor (rollback)") == 0,
        "status string");
  free(image);

  /* The other imgtool ed25519 samples verify as well (pure, sha512, full key, padded). */
  const char *samples[] = {"signed-ed25519-basic.bin", "signed-ed25519-fullkey.bin",
                           "signed-ed25519-sha512.bin", "signed-ed25519-pure.bin",
                           "signed-ed25519-padded-confirm-8k.bin"};
  for (size_t i = 0; i < sizeof samples / sizeof samples[0]; i++) {
    image = read_file(dir, samples[i], &len);
    st = verify_mem(image, len, trusted, 2, false, 0, &out, &err);
    CHECK(st == FWV_STATUS_OK, "%s: %d (%s) at %u", samples[i], st, fwv_status_str(st), err.offset);
    free(image);
  }

  printf("%d passed, %d failed\n", passed, failures);
  return failures == 0 ? 0 : 1;
}
