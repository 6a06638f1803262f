// C++ operator new and delete, interposed: the same heap as malloc, with
// the standard's new_handler loop and bad_alloc.
#include <errno.h>
#include <stdlib.h>

#include <new>

#define EXPORT __attribute__((visibility("default")))

extern "C" int posix_memalign(void**, size_t, size_t);

namespace {

void* Allocate(size_t size, size_t alignment) {
  if (alignment <= __STDCPP_DEFAULT_NEW_ALIGNMENT__) return malloc(size);
  void* p = nullptr;
  return posix_memalign(&p, alignment, size) == 0 ? p : nullptr;
}

void* NewOrThrow(size_t size, size_t alignment) {
  for (;;) {
    if (void* p = Allocate(size, alignment)) return p;
    std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) throw std::bad_alloc();
    handler();
  }
}

void* NewOrNull(size_t size, size_t alignment) noexcept {
  try {
    return NewOrThrow(size, alignment);
  } catch (...) {
    return nullptr;
  }
}

constexpr size_t kDefault = __STDCPP_DEFAULT_NEW_ALIGNMENT__;

}  // namespace

EXPORT void* operator new(size_t n) { return NewOrThrow(n, kDefault); }
EXPORT void* operator new[](size_t n) { return NewOrThrow(n, kDefault); }
EXPORT void* operator new(size_t n, const std::nothrow_t&) noexcept { return NewOrNull(n, kDefault); }
EXPORT void* operator new[](size_t n, const std::nothrow_t&) noexcept { return NewOrNull(n, kDefault); }
EXPORT void* operator new(size_t n, std::align_val_t a) { return NewOrThrow(n, static_cast<size_t>(a)); }
EXPORT void* operator new[](size_t n, std::align_val_t a) { return NewOrThrow(n, static_cast<size_t>(a)); }
EXPORT void* operator new(size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return NewOrNull(n, static_cast<size_t>(a));
}
EXPORT void* operator new[](size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return NewOrNull(n, static_cast<size_t>(a));
}

EXPORT void operator delete(void* p) noexcept { free(p); }
EXPORT void operator delete[](void* p) noexcept { free(p); }
EXPORT void operator delete(void* p, size_t) noexcept { free(p); }
EXPORT void operator delete[](void* p, size_t) noexcept { free(p); }
EXPORT void operator delete(void* p, const std::nothrow_t&) noexcept { free(p); }
EXPORT void operator delete[](void* p, const std::nothrow_t&) noexcept { free(p); }
EXPORT void operator delete(void* p, std::align_val_t) noexcept { free(p); }
EXPORT void operator delete[](void* p, std::align_val_t) noexcept { free(p); }
EXPORT void operator delete(void* p, size_t, std::align_val_t) noexcept { free(p); }
EXPORT void operator delete[](void* p, size_t, std::align_val_t) noexcept { free(p); }
EXPORT void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { free(p); }
EXPORT void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { free(p); }
