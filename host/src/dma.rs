//! DMA memory: the registrar's regions, backed by sealed memfds (Linux only).
//!
//! The registrar owns every byte the device may touch. Each region is one anonymous memory
//! file (`memfd_create`) mapped once, `MAP_SHARED`, read/write, into the registrar. The same
//! file descriptor is handed to an application over a Unix socket (`SCM_RIGHTS`) and mapped
//! there with [`DmaRegion::from_fd`], so both processes (and the device, through the backend)
//! see the very same pages. Why each piece:
//!
//! - **memfd**: anonymous, shareable by file descriptor, no file system path that someone
//!   else could open or unlink; `MFD_CLOEXEC` so it leaks into no `exec`ed child.
//! - **Seals** (`F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL`): once sealed, nobody holding the
//!   descriptor can change the size. Without them an application could `ftruncate` the file
//!   under the device and every access past the new end would `SIGBUS` the registrar (and the
//!   device model). `from_fd` refuses descriptors without the shrink and grow seals.
//! - **Huge pages** (`MFD_HUGETLB | MFD_HUGE_2MB`), only for regions of at least 2 MiB and only
//!   when `/proc/meminfo` shows enough free, unreserved 2 MiB pages: fewer TLB misses and fewer
//!   translation-table entries. A hugetlb memfd without reserved pages `SIGBUS`es on first
//!   touch, so the pool is checked first and any failure falls back to 4 KiB pages.
//! - **mlock**: keeps the pages resident (no swap-out). It needs `RLIMIT_MEMLOCK` or
//!   `CAP_IPC_LOCK`; when it fails the region still works and [`DmaRegion::locked`] is `false`
//!   (the caller warns).
//! - **`MADV_DONTFORK`**: a `fork` of the owner would otherwise make the pages copy-on-write, and
//!   the next write by the parent moves it to a fresh frame behind the device's back. With
//!   `MADV_DONTFORK` the child simply does not get the mapping (it can map the fd again).
//!
//! **mlock does not pin.** Measured (see `shared/TOOLCHAIN.md`, "Host side"): under memory
//! compaction thousands of mlocked frames moved, and after `fork` without `MADV_DONTFORK`
//! written pages moved; `/proc/self/pagemap` frame numbers need `CAP_SYS_ADMIN` anyway. A locked
//! region is resident, not fixed in physical memory. Only `VFIO_IOMMU_MAP_DMA` (or a kernel
//! driver) truly pins, so only those may stand behind the translation tables' `pinned` bit on
//! real hardware. In simulation and over the serial link the device addresses offsets into
//! these regions, which is why this is enough there.
//!
//! Other processes and the device write this memory concurrently, so the region never hands
//! out `&[u8]` or `&mut [u8]`: all access goes through bounds-checked copies
//! ([`DmaRegion::read`], [`DmaRegion::write`], [`DmaRegion::zero`]) and aligned atomics
//! ([`DmaRegion::load_u32`] and friends) for ring indices, doorbells and phase words.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Size of a small page, the device's translation granule.
pub const PAGE_4K: usize = 4096;
/// Size of a huge page as requested with `MFD_HUGE_2MB`.
pub const PAGE_2M: usize = 2 << 20;

/// `f_type` of a hugetlbfs file system (`HUGETLBFS_MAGIC`, spelled out because libc's type of
/// the constant differs between architectures).
const HUGETLBFS_MAGIC: u32 = 0x9584_58f6;

/// What went wrong while creating or mapping a DMA region.
#[derive(Debug, thiserror::Error)]
pub enum DmaError {
    /// `memfd_create` failed (or the name contains a NUL byte).
    #[error("memfd_create({name:?}) failed: {source}")]
    Create {
        /// The memfd name asked for.
        name: String,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// `ftruncate` to the region's size failed.
    #[error("ftruncate of a DMA memfd to {len} bytes failed: {source}")]
    Size {
        /// The size asked for, in bytes.
        len: usize,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Adding the seals (`F_ADD_SEALS`) failed.
    #[error("sealing a DMA memfd failed: {source}")]
    Seal {
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// Reading the seals (`F_GET_SEALS`) failed, e.g. the descriptor is not a memfd.
    #[error("reading the seals of a DMA fd failed (not a memfd?): {source}")]
    GetSeals {
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The descriptor lacks `F_SEAL_SHRINK` or `F_SEAL_GROW`: its size could change under
    /// the device.
    #[error("DMA fd is not sealed against shrinking and growing (seals {found:#x})")]
    Seals {
        /// The seals the descriptor has (`F_GET_SEALS`).
        found: u32,
    },
    /// `fstat` or `fstatfs` of the descriptor failed.
    #[error("fstat of a DMA fd failed: {source}")]
    Stat {
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// The length is zero or too large (it overflows when rounded up or exceeds `isize::MAX`).
    #[error("invalid DMA region length {len}")]
    Length {
        /// The offending length in bytes.
        len: u64,
    },
    /// `mmap` failed.
    #[error("mmap of {len} bytes of DMA memory failed: {source}")]
    Map {
        /// The mapping's length in bytes.
        len: usize,
        /// The OS error.
        #[source]
        source: io::Error,
    },
    /// `madvise(MADV_DONTFORK)` failed.
    #[error("madvise(MADV_DONTFORK) on DMA memory failed: {source}")]
    Advise {
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// One DMA memory region: a sealed memfd and one `MAP_SHARED` read/write mapping of all of it.
///
/// Created by the registrar with [`DmaRegion::create`], or mapped by an application from a
/// received descriptor with [`DmaRegion::from_fd`]. Dropping it unmaps the memory and closes
/// this process's descriptor; the pages live on while any other process maps them or holds
/// the descriptor.
#[derive(Debug)]
pub struct DmaRegion {
    fd: OwnedFd,
    ptr: NonNull<u8>,
    len: usize,
    huge: bool,
    locked: bool,
}

// SAFETY: the region exclusively owns its mapping (unmapped only in `Drop`) and its fd. It never
// hands out references into the memory: every access is a bounds-checked raw copy or an
// aligned atomic, which is exactly what concurrent writers in other processes and the device
// already require, so using it from several threads at once adds nothing new. The raw pointer
// is the only reason the auto traits are missing.
unsafe impl Send for DmaRegion {}
// SAFETY: see `Send` above; all methods take `&self` and access memory only through raw copies
// and atomics.
unsafe impl Sync for DmaRegion {}

impl DmaRegion {
    /// Creates a zeroed region of `len` bytes (rounded up to 4 KiB; to 2 MiB when huge pages
    /// are used) named `name` (the memfd name, shown in `/proc/<pid>/fd` and `maps`).
    ///
    /// Huge pages (`MFD_HUGETLB | MFD_HUGE_2MB`) are used only when `len` is at least 2 MiB and
    /// `/proc/meminfo` shows enough free, unreserved 2 MiB pages (a hugetlb memfd with no
    /// reserved pages `SIGBUS`es on first touch, so this is checked first); if anything in the
    /// huge-page path fails anyway, the region falls back to 4 KiB pages.
    ///
    /// Steps: `memfd_create(MFD_CLOEXEC | MFD_ALLOW_SEALING)`, `ftruncate`, seals
    /// `F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL`, `mmap(PROT_READ | PROT_WRITE, MAP_SHARED)`,
    /// `madvise(MADV_DONTFORK)`, `mlock`. A failing `mlock` (`RLIMIT_MEMLOCK`) is not an error:
    /// the region is returned with [`locked`](Self::locked) `false`.
    pub fn create(name: &str, len: usize) -> Result<DmaRegion, DmaError> {
        let small = small_page();
        if len == 0 || len > isize::MAX as usize {
            return Err(DmaError::Length { len: len as u64 });
        }
        let cname = CString::new(name).map_err(|_| DmaError::Create {
            name: name.to_owned(),
            source: io::Error::new(io::ErrorKind::InvalidInput, "name contains a NUL byte"),
        })?;

        if len >= PAGE_2M {
            if let Some(huge_len) = round_up(len, PAGE_2M) {
                let pages = (huge_len / PAGE_2M) as u64;
                let free = std::fs::read_to_string("/proc/meminfo")
                    .ok()
                    .and_then(|text| free_huge_pages_2m(&text));
                if free.is_some_and(|free| free >= pages) {
                    if let Ok(region) = Self::create_with(&cname, name, huge_len, true) {
                        return Ok(region);
                    }
                }
            }
        }
        let small_len = round_up(len, small).ok_or(DmaError::Length { len: len as u64 })?;
        Self::create_with(&cname, name, small_len, false)
    }

    /// `create` for one page size; `len` is already rounded.
    fn create_with(cname: &CString, name: &str, len: usize, huge: bool) -> Result<Self, DmaError> {
        let mut flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
        if huge {
            flags |= libc::MFD_HUGETLB | libc::MFD_HUGE_2MB;
        }
        // SAFETY: `cname` is a valid NUL-terminated string; memfd_create has no other inputs.
        let raw = unsafe { libc::memfd_create(cname.as_ptr(), flags) };
        if raw < 0 {
            return Err(DmaError::Create {
                name: name.to_owned(),
                source: io::Error::last_os_error(),
            });
        }
        // SAFETY: `raw` is a freshly created descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };

        let size = libc::off_t::try_from(len).map_err(|_| DmaError::Length { len: len as u64 })?;
        // SAFETY: plain syscall on a descriptor we own.
        if unsafe { libc::ftruncate(fd.as_raw_fd(), size) } != 0 {
            return Err(DmaError::Size {
                len,
                source: io::Error::last_os_error(),
            });
        }
        let seals = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;
        // SAFETY: plain fcntl on a descriptor we own.
        if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
            return Err(DmaError::Seal {
                source: io::Error::last_os_error(),
            });
        }
        Self::map(fd, len, huge)
    }

    /// The application side: maps a region received as a file descriptor (`SCM_RIGHTS`).
    ///
    /// Checks that the seals include `F_SEAL_SHRINK` and `F_SEAL_GROW` (else
    /// [`DmaError::Seals`]: an unsealed file could be truncated under the device), takes the
    /// size from `fstat`, maps all of it `MAP_SHARED` read/write, applies `MADV_DONTFORK` and
    /// tries `mlock` (failure leaves [`locked`](Self::locked) `false`). Whether the file uses
    /// huge pages is read from its file system (`fstatfs`).
    pub fn from_fd(fd: OwnedFd) -> Result<DmaRegion, DmaError> {
        // SAFETY: plain fcntl on a descriptor we own.
        let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
        if seals < 0 {
            return Err(DmaError::GetSeals {
                source: io::Error::last_os_error(),
            });
        }
        let needed = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW;
        if seals & needed != needed {
            return Err(DmaError::Seals {
                found: seals as u32,
            });
        }

        // SAFETY: an all-zero `stat` is a valid value; fstat fills it in.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `st` is a valid, writable `stat`.
        if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
            return Err(DmaError::Stat {
                source: io::Error::last_os_error(),
            });
        }
        let size = st.st_size;
        let len = usize::try_from(size)
            .ok()
            .filter(|&len| len != 0 && len <= isize::MAX as usize)
            .ok_or(DmaError::Length {
                len: size.max(0) as u64,
            })?;

        // SAFETY: an all-zero `statfs` is a valid value; fstatfs fills it in.
        let mut sfs: libc::statfs = unsafe { std::mem::zeroed() };
        // SAFETY: `sfs` is a valid, writable `statfs`.
        if unsafe { libc::fstatfs(fd.as_raw_fd(), &mut sfs) } != 0 {
            return Err(DmaError::Stat {
                source: io::Error::last_os_error(),
            });
        }
        let huge = sfs.f_type as u32 == HUGETLBFS_MAGIC;
        Self::map(fd, len, huge)
    }

    /// Maps all `len` bytes of `fd`, applies `MADV_DONTFORK`, tries `mlock`.
    fn map(fd: OwnedFd, len: usize, huge: bool) -> Result<Self, DmaError> {
        // SAFETY: a fresh mapping chosen by the kernel (addr NULL) aliases no Rust object.
        let addr = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(DmaError::Map {
                len,
                source: io::Error::last_os_error(),
            });
        }
        let ptr = NonNull::new(addr.cast::<u8>()).ok_or_else(|| DmaError::Map {
            len,
            source: io::Error::other("mmap returned NULL"),
        })?;
        // From here on `Drop` unmaps on every early return.
        let mut region = DmaRegion {
            fd,
            ptr,
            len,
            huge,
            locked: false,
        };
        // SAFETY: `addr..addr+len` is exactly our mapping.
        if unsafe { libc::madvise(addr, len, libc::MADV_DONTFORK) } != 0 {
            return Err(DmaError::Advise {
                source: io::Error::last_os_error(),
            });
        }
        // SAFETY: `addr..addr+len` is exactly our mapping; mlock only changes residency.
        region.locked = unsafe { libc::mlock(addr, len) } == 0;
        Ok(region)
    }

    /// Length of the region in bytes (the rounded size, the memfd's size).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the region has no bytes (never true for a region that was created or mapped).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The memfd, to pass to an application (`SCM_RIGHTS`) or to `dup`.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Base of the mapping: its virtual address in this process. Valid for [`len`](Self::len)
    /// bytes while `self` lives; other processes and the device write it concurrently, so any
    /// access through it must be raw (no references) or atomic.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Whether the region is backed by 2 MiB huge pages.
    pub fn huge_pages(&self) -> bool {
        self.huge
    }

    /// Whether `mlock` succeeded (the pages are resident; this is still not pinning).
    pub fn locked(&self) -> bool {
        self.locked
    }

    /// Pointer to `[offset, offset + len)`, or `None` when that range is not inside the region
    /// (including on overflow).
    fn range(&self, offset: usize, len: usize) -> Option<*mut u8> {
        let end = offset.checked_add(len)?;
        if end > self.len {
            return None;
        }
        // SAFETY: `offset <= self.len`, so the result stays inside (or one past) the mapping.
        Some(unsafe { self.ptr.as_ptr().add(offset) })
    }

    /// Pointer to an aligned `size`-byte word at `offset`, or `None` when misaligned or out of
    /// bounds. The mapping base is page-aligned, so an offset multiple of `size` is aligned.
    fn word(&self, offset: usize, size: usize) -> Option<*mut u8> {
        if !offset.is_multiple_of(size) {
            return None;
        }
        self.range(offset, size)
    }

    /// Copies `buf.len()` bytes starting at `offset` into `buf`. Returns `false` (and copies
    /// nothing) when the range is out of bounds or overflows.
    ///
    /// The copy is not atomic: bytes the device or another process writes meanwhile may be
    /// seen partly; use the atomic accessors for words that publish data.
    pub fn read(&self, offset: usize, buf: &mut [u8]) -> bool {
        let Some(src) = self.range(offset, buf.len()) else {
            return false;
        };
        // SAFETY: `src..src+buf.len()` lies in our mapping, which never overlaps a Rust buffer.
        unsafe { ptr::copy_nonoverlapping(src, buf.as_mut_ptr(), buf.len()) };
        true
    }

    /// Copies `data` into the region starting at `offset`. Returns `false` (and copies nothing)
    /// when the range is out of bounds or overflows.
    pub fn write(&self, offset: usize, data: &[u8]) -> bool {
        let Some(dst) = self.range(offset, data.len()) else {
            return false;
        };
        // SAFETY: `dst..dst+data.len()` lies in our mapping, which never overlaps a Rust buffer.
        unsafe { ptr::copy_nonoverlapping(data.as_ptr(), dst, data.len()) };
        true
    }

    /// Loads the `u32` at `offset` with `Acquire` ordering (native byte order). `None` when
    /// `offset` is not a multiple of 4 or out of bounds.
    pub fn load_u32(&self, offset: usize) -> Option<u32> {
        let p = self.word(offset, 4)?;
        // SAFETY: `p` is 4-aligned, inside the mapping, valid while `self` lives; all our
        // accesses to it are atomic or raw.
        Some(unsafe { AtomicU32::from_ptr(p.cast()) }.load(Ordering::Acquire))
    }

    /// Stores `value` at `offset` with `Release` ordering (native byte order). `false` when
    /// `offset` is not a multiple of 4 or out of bounds.
    pub fn store_u32(&self, offset: usize, value: u32) -> bool {
        let Some(p) = self.word(offset, 4) else {
            return false;
        };
        // SAFETY: as in `load_u32`.
        unsafe { AtomicU32::from_ptr(p.cast()) }.store(value, Ordering::Release);
        true
    }

    /// Loads the `u64` at `offset` with `Acquire` ordering (native byte order). `None` when
    /// `offset` is not a multiple of 8 or out of bounds.
    pub fn load_u64(&self, offset: usize) -> Option<u64> {
        let p = self.word(offset, 8)?;
        // SAFETY: `p` is 8-aligned, inside the mapping, valid while `self` lives.
        Some(unsafe { AtomicU64::from_ptr(p.cast()) }.load(Ordering::Acquire))
    }

    /// Stores `value` at `offset` with `Release` ordering (native byte order). `false` when
    /// `offset` is not a multiple of 8 or out of bounds.
    pub fn store_u64(&self, offset: usize, value: u64) -> bool {
        let Some(p) = self.word(offset, 8) else {
            return false;
        };
        // SAFETY: as in `load_u64`.
        unsafe { AtomicU64::from_ptr(p.cast()) }.store(value, Ordering::Release);
        true
    }

    /// Zeroes `[offset, offset + len)`. Returns `false` (and zeroes nothing) when the range is
    /// out of bounds or overflows.
    pub fn zero(&self, offset: usize, len: usize) -> bool {
        let Some(dst) = self.range(offset, len) else {
            return false;
        };
        // SAFETY: `dst..dst+len` lies in our mapping.
        unsafe { ptr::write_bytes(dst, 0, len) };
        true
    }
}

impl Drop for DmaRegion {
    /// Unmaps the region (which also drops its `mlock`); the fd closes with `OwnedFd`.
    fn drop(&mut self) {
        // SAFETY: `ptr..ptr+len` is our mapping and nothing refers into it after this.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// The small page size: 4 KiB, or the system's page size if that is larger.
fn small_page() -> usize {
    // SAFETY: sysconf has no memory-safety preconditions.
    let sys = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(sys).map_or(PAGE_4K, |sys| sys.max(PAGE_4K))
}

/// Rounds `len` up to a multiple of the power of two `page`, `None` on overflow or past
/// `isize::MAX`.
fn round_up(len: usize, page: usize) -> Option<usize> {
    len.checked_next_multiple_of(page)
        .filter(|&rounded| rounded <= isize::MAX as usize)
}

/// Free, unreserved 2 MiB huge pages according to `/proc/meminfo` text (`HugePages_Free`
/// minus `HugePages_Rsvd`), or `None` when the text lacks them or the default huge page size
/// is not 2 MiB (then the counters describe another pool).
fn free_huge_pages_2m(meminfo: &str) -> Option<u64> {
    let field = |key: &str| -> Option<u64> {
        meminfo.lines().find_map(|line| {
            let rest = line.strip_prefix(key)?.strip_prefix(':')?;
            rest.split_whitespace().next()?.parse().ok()
        })
    };
    if field("Hugepagesize")? != 2048 {
        return None;
    }
    let free = field("HugePages_Free")?;
    let rsvd = field("HugePages_Rsvd").unwrap_or(0);
    Some(free.saturating_sub(rsvd))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(len: usize) -> DmaRegion {
        DmaRegion::create("skipwalk-test", len).expect("create DMA region")
    }

    fn dup_fd(r: &DmaRegion) -> OwnedFd {
        r.fd().try_clone_to_owned().expect("dup")
    }

    #[test]
    fn create_rounds_and_is_zeroed() {
        let r = region(100);
        assert_eq!(r.len(), 4096);
        assert!(!r.is_empty());
        assert!(!r.huge_pages());
        assert_eq!(r.as_ptr() as usize % 4096, 0);
        let mut buf = vec![0xffu8; r.len()];
        assert!(r.read(0, &mut buf));
        assert!(buf.iter().all(|&b| b == 0));
        assert_eq!(region(4096).len(), 4096);
        assert_eq!(region(4097).len(), 8192);
    }

    #[test]
    fn create_rejects_bad_lengths_and_names() {
        assert!(matches!(
            DmaRegion::create("x", 0),
            Err(DmaError::Length { len: 0 })
        ));
        assert!(matches!(
            DmaRegion::create("x", usize::MAX),
            Err(DmaError::Length { .. })
        ));
        assert!(matches!(
            DmaRegion::create("a\0b", 4096),
            Err(DmaError::Create { .. })
        ));
    }

    #[test]
    fn read_write_zero_and_bounds() {
        let r = region(8192);
        assert!(r.write(10, b"hello"));
        let mut buf = [0u8; 7];
        assert!(r.read(9, &mut buf));
        assert_eq!(&buf, b"\0hello\0");
        assert!(r.write(8192 - 3, b"end"));
        assert!(!r.write(8192 - 2, b"end"));
        assert!(!r.write(usize::MAX, b"x"));
        assert!(!r.write(usize::MAX - 1, b"xyz"));
        // Empty accesses are fine up to the end, not past it.
        assert!(r.write(8192, b""));
        assert!(!r.write(8193, b""));
        let mut big = [0u8; 3];
        assert!(!r.read(8190, &mut big));
        assert!(!r.read(usize::MAX, &mut big));
        assert_eq!(big, [0; 3], "a failed read copies nothing");
        assert!(r.zero(11, 3));
        assert!(r.read(9, &mut buf));
        assert_eq!(&buf, b"\0h\0\0\0o\0");
        assert!(!r.zero(8000, 193));
        assert!(!r.zero(1, usize::MAX));
        assert!(!r.zero(usize::MAX, 1));
        assert!(r.zero(0, 8192));
    }

    #[test]
    fn atomics_alignment_and_bounds() {
        let r = region(4096);
        assert!(r.store_u32(8, 0xdead_beef));
        assert_eq!(r.load_u32(8), Some(0xdead_beef));
        let mut raw = [0u8; 4];
        assert!(r.read(8, &mut raw));
        assert_eq!(u32::from_ne_bytes(raw), 0xdead_beef);
        assert!(r.store_u64(16, 0x0123_4567_89ab_cdef));
        assert_eq!(r.load_u64(16), Some(0x0123_4567_89ab_cdef));
        assert!(r.store_u64(4088, u64::MAX));
        assert_eq!(r.load_u64(4088), Some(u64::MAX));
        assert_eq!(r.load_u32(4092), Some(u32::MAX));
        // Misaligned.
        assert_eq!(r.load_u32(2), None);
        assert!(!r.store_u32(6, 1));
        assert_eq!(r.load_u64(4), None);
        assert!(!r.store_u64(12, 1));
        // Out of bounds, including overflow.
        assert_eq!(r.load_u32(4096), None);
        assert!(!r.store_u32(4096, 1));
        assert_eq!(r.load_u64(4096), None);
        assert!(!r.store_u64(usize::MAX - 7, 1));
        assert_eq!(r.load_u32(usize::MAX - 3), None);
    }

    #[test]
    fn seals_present_and_size_fixed() {
        let r = region(4096);
        let fd = r.fd().as_raw_fd();
        // SAFETY: fcntl/ftruncate on a descriptor `r` keeps open.
        let seals = unsafe { libc::fcntl(fd, libc::F_GET_SEALS) };
        let want = libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;
        assert_eq!(seals & want, want, "seals {seals:#x}");
        // SAFETY: as above.
        assert_ne!(unsafe { libc::ftruncate(fd, 0) }, 0);
        // SAFETY: as above.
        assert_ne!(unsafe { libc::ftruncate(fd, 8192) }, 0);
        // SAFETY: as above; F_SEAL_SEAL forbids further seals.
        assert_ne!(
            unsafe { libc::fcntl(fd, libc::F_ADD_SEALS, libc::F_SEAL_WRITE) },
            0
        );
        assert_eq!(r.len(), 4096);
    }

    #[test]
    fn from_fd_shares_the_bytes() {
        let a = region(3 * 4096);
        assert!(a.write(5000, b"shared"));
        let b = DmaRegion::from_fd(dup_fd(&a)).expect("from_fd");
        assert_eq!(b.len(), a.len());
        assert!(!b.huge_pages());
        assert_ne!(a.as_ptr(), b.as_ptr(), "two mappings");
        let mut buf = [0u8; 6];
        assert!(b.read(5000, &mut buf));
        assert_eq!(&buf, b"shared");
        assert!(b.store_u64(8192, 42));
        assert_eq!(a.load_u64(8192), Some(42));
        drop(a);
        // The second mapping keeps working after the first is gone.
        assert_eq!(b.load_u64(8192), Some(42));
    }

    /// A memfd made by hand, sized but never sealed.
    fn unsealed_memfd(flags: libc::c_uint) -> OwnedFd {
        // SAFETY: the name is NUL-terminated.
        let raw = unsafe { libc::memfd_create(c"skipwalk-unsealed".as_ptr(), flags) };
        assert!(raw >= 0, "memfd_create: {}", io::Error::last_os_error());
        // SAFETY: `raw` is fresh and ours.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // SAFETY: plain syscall on our descriptor.
        assert_eq!(unsafe { libc::ftruncate(fd.as_raw_fd(), 4096) }, 0);
        fd
    }

    #[test]
    fn from_fd_rejects_unsealed() {
        let sealable = unsealed_memfd(libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING);
        assert!(matches!(
            DmaRegion::from_fd(sealable),
            Err(DmaError::Seals { found: 0 })
        ));
        // Without MFD_ALLOW_SEALING the kernel reports F_SEAL_SEAL only: still no size seals.
        let plain = unsealed_memfd(libc::MFD_CLOEXEC);
        match DmaRegion::from_fd(plain) {
            Err(DmaError::Seals { found }) => assert_eq!(found, libc::F_SEAL_SEAL as u32),
            other => panic!("expected Seals, got {other:?}"),
        }
    }

    #[test]
    fn from_fd_rejects_non_memfd() {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for two descriptors.
        assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
        // SAFETY: both are fresh and ours.
        let (r, _w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        assert!(matches!(
            DmaRegion::from_fd(r),
            Err(DmaError::GetSeals { .. })
        ));
    }

    #[test]
    fn forked_child_writes_are_seen() {
        let r = region(4096);
        // A plain dup has no FD_CLOEXEC; the child maps the region again through it, since
        // MADV_DONTFORK keeps the parent's mapping out of the child.
        // SAFETY: plain syscall on a descriptor `r` keeps open.
        let inherited = unsafe { libc::dup(r.fd().as_raw_fd()) };
        assert!(inherited >= 0);
        // SAFETY: the child only maps, writes and `_exit`s; it never returns into the harness.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork: {}", io::Error::last_os_error());
        if pid == 0 {
            // SAFETY: `inherited` is the child's own copy of the descriptor.
            let fd = unsafe { OwnedFd::from_raw_fd(inherited) };
            let code = match DmaRegion::from_fd(fd) {
                Ok(child) if child.write(100, b"from child") && child.store_u32(0, 7) => 0,
                _ => 1,
            };
            // SAFETY: leave without running the parent's destructors or test harness.
            unsafe { libc::_exit(code) };
        }
        // SAFETY: the parent's copy is ours to close.
        drop(unsafe { OwnedFd::from_raw_fd(inherited) });
        let mut status = 0;
        // SAFETY: `pid` is our child; `status` is writable.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
        assert_eq!(r.load_u32(0), Some(7));
        let mut buf = [0u8; 10];
        assert!(r.read(100, &mut buf));
        assert_eq!(&buf, b"from child");
    }

    #[test]
    fn meminfo_parsing() {
        let text = "MemTotal: 1 kB\nHugePages_Total:      64\nHugePages_Free:       40\n\
                    HugePages_Rsvd:       8\nHugePages_Surp:        0\nHugepagesize:       2048 kB\n";
        assert_eq!(free_huge_pages_2m(text), Some(32));
        let gig = text.replace("2048 kB", "1048576 kB");
        assert_eq!(free_huge_pages_2m(&gig), None);
        assert_eq!(free_huge_pages_2m("MemTotal: 1 kB\n"), None);
    }

    #[test]
    fn large_region_uses_huge_pages_only_when_reserved() {
        let free = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|t| free_huge_pages_2m(&t))
            .unwrap_or(0);
        let r = region(PAGE_2M + 1);
        eprintln!(
            "2 MiB + 1 region: huge_pages {} locked {} (free 2 MiB pages {free})",
            r.huge_pages(),
            r.locked()
        );
        if r.huge_pages() {
            assert!(free >= 2);
            assert_eq!(r.len(), 2 * PAGE_2M);
        } else {
            assert_eq!(r.len(), PAGE_2M + 4096);
        }
        assert!(r.store_u64(r.len() - 8, 1));
        let again = DmaRegion::from_fd(dup_fd(&r)).expect("from_fd");
        assert_eq!(again.huge_pages(), r.huge_pages());
        assert_eq!(again.load_u64(r.len() - 8), Some(1));
    }

    #[test]
    fn region_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<DmaRegion>();
        let r = std::sync::Arc::new(region(4096));
        let r2 = r.clone();
        std::thread::spawn(move || assert!(r2.store_u32(4, 9)))
            .join()
            .unwrap();
        assert_eq!(r.load_u32(4), Some(9));
    }
}
