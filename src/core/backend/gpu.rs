//! The WebGPU backend (wgpu: WebGPU in the browser, Vulkan/Metal/DX12 natively). This file owns the
//! device: adapter and limits, the one pending command encoder every primitive records into, the
//! buffer pool, the pipeline cache and `read`. The primitives live one file per kernel family
//! (`gpu/<family>.rs` drives `shaders/<family>.wgsl`); `gpu/storage.rs` is the `BackendStorage`
//! impl that delegates to them; the integer-inference kernels (int8 GEMM, device-side activation
//! quantization) are in `gpu/int8.rs`.
//!
//! Submission model: primitives only record compute passes; nothing reaches the queue until
//! [`GpuDevice::flush`] or [`BackendStorage::read`], so a training step costs one submit and no
//! readback. Buffers go back to a pool when their last handle drops; one still referenced by the
//! pending encoder is parked until that encoder is submitted, because `queue.write_buffer` on a
//! reused buffer would otherwise run before the recorded commands that still read the old contents.

mod conv;
mod elementwise;
mod int8;
mod layout;
mod matmul;
mod optim;
mod quant;
mod random;
mod reduce;
mod storage;

pub use int8::{I32Buffer, Int8Path, PackedI8, Requant};

use super::BackendStorage;
use crate::{Error, Result};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// Threads per workgroup of the one-thread-per-element kernels (`WG` in `shaders/common.wgsl`).
pub const WG: u32 = 256;
/// WebGPU's guaranteed maximum workgroup count per dispatch dimension.
const MAX_GROUPS: u32 = 65_535;
/// Size of the per-dispatch uniform buffers; every `Params` struct fits.
const PARAMS_BYTES: u64 = 256;
/// Largest single buffer requested from the adapter (it may allow less).
const MAX_BUFFER_REQUEST: u64 = 1 << 30;

/// The kernel families, one `shaders/<name>.wgsl` each, compiled with `common.wgsl` prepended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Family {
    Elementwise,
    Reduce,
    Matmul,
    Conv,
    Layout,
    Random,
    Optim,
    Quant,
    /// `shaders/int8.wgsl`: portable WGSL.
    Int8,
    /// `shaders/int8_dot4.wgsl` (the `requires packed_4x8_integer_dot_product;` directive and the
    /// `dot4I8Packed` GEMM) + common + `shaders/int8.wgsl`; compiled only when the instance reports
    /// that language extension.
    Int8Dot4,
}

const COMMON_WGSL: &str = include_str!("../../../shaders/common.wgsl");
const INT8_WGSL: &str = include_str!("../../../shaders/int8.wgsl");
/// Opens with its `requires` directive, so it goes first in the `int8_dot4` module.
const INT8_DOT4_WGSL: &str = include_str!("../../../shaders/int8_dot4.wgsl");

impl Family {
    fn name(self) -> &'static str {
        match self {
            Family::Elementwise => "elementwise",
            Family::Reduce => "reduce",
            Family::Matmul => "matmul",
            Family::Conv => "conv",
            Family::Layout => "layout",
            Family::Random => "random",
            Family::Optim => "optim",
            Family::Quant => "quant",
            Family::Int8 => "int8",
            Family::Int8Dot4 => "int8_dot4",
        }
    }

    fn body(self) -> &'static str {
        match self {
            Family::Elementwise => include_str!("../../../shaders/elementwise.wgsl"),
            Family::Reduce => include_str!("../../../shaders/reduce.wgsl"),
            Family::Matmul => include_str!("../../../shaders/matmul.wgsl"),
            Family::Conv => include_str!("../../../shaders/conv.wgsl"),
            Family::Layout => include_str!("../../../shaders/layout.wgsl"),
            Family::Random => include_str!("../../../shaders/random.wgsl"),
            Family::Optim => include_str!("../../../shaders/optim.wgsl"),
            Family::Quant => include_str!("../../../shaders/quant.wgsl"),
            Family::Int8 | Family::Int8Dot4 => INT8_WGSL,
        }
    }

    /// The WGSL the device compiles: the common prelude, a newline, the family; whole files only.
    /// `Int8Dot4` puts int8_dot4.wgsl first, because its `requires` directive must precede every
    /// declaration (WGSL declarations may come in any order, so its kernel may use int8.wgsl's).
    fn source(self) -> String {
        match self {
            Family::Int8Dot4 => format!("{INT8_DOT4_WGSL}\n{COMMON_WGSL}\n{INT8_WGSL}"),
            _ => format!("{COMMON_WGSL}\n{}", self.body()),
        }
    }

    const ALL: [Family; 10] = [
        Family::Elementwise,
        Family::Reduce,
        Family::Matmul,
        Family::Conv,
        Family::Layout,
        Family::Random,
        Family::Optim,
        Family::Quant,
        Family::Int8,
        Family::Int8Dot4,
    ];
}

/// Every WGSL module the device may compile, as (module name, source) exactly as it is handed to
/// `create_shader_module` (common prelude included; `int8` is portable, `int8_dot4` adds
/// `shaders/int8_dot4.wgsl`). For validation in tests; needs no device.
pub fn wgsl_modules() -> Vec<(&'static str, String)> {
    Family::ALL.iter().map(|f| (f.name(), f.source())).collect()
}

/// Work counters since the device was created (see [`GpuDevice::stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GpuStats {
    /// `queue.submit` calls (one per `flush` or `read` that found recorded work).
    pub submits: u64,
    /// Device → host transfers (`read` calls).
    pub readbacks: u64,
    /// Compute dispatches recorded.
    pub dispatches: u64,
    /// GPU buffers created (pool misses); flat across training steps once the pool is warm.
    pub buffers_created: u64,
}

/// What a pooled buffer is for; the two kinds have different usages and never mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum BufKind {
    /// `STORAGE | COPY_SRC | COPY_DST`: tensors, index lists, staging for in-place writes.
    Storage,
    /// `UNIFORM | COPY_DST`: one small `Params` block per dispatch.
    Uniform,
}

/// Recorded-but-unsubmitted work and the buffer pool, which must change together.
struct State {
    /// Created on the first recorded command, taken at submit.
    encoder: Option<wgpu::CommandEncoder>,
    /// Reusable buffers by (kind, padded size).
    free: HashMap<(BufKind, u64), Vec<wgpu::Buffer>>,
    /// Released while the pending encoder may reference them; freed at the next submit.
    parked: Vec<(BufKind, wgpu::Buffer)>,
}

/// A compiled entry point: its pipeline and the (automatic) layout of bind group 0.
struct Kernel {
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
}

struct DeviceInner {
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: String,
    /// The adapter reports itself as a CPU (software) device.
    software: bool,
    /// The instance reports WGSL's `packed_4x8_integer_dot_product` (`dot4I8Packed`).
    packed_dot4: bool,
    limits: wgpu::Limits,
    /// Set by the device-lost callback: the reason.
    lost: Arc<Mutex<Option<String>>>,
    /// First error the device reported outside any error scope (validation, out of memory).
    error: Arc<Mutex<Option<String>>>,
    modules: RefCell<HashMap<Family, Rc<wgpu::ShaderModule>>>,
    kernels: RefCell<HashMap<String, Rc<Kernel>>>,
    state: RefCell<State>,
    stats: Cell<GpuStats>,
}

/// A WebGPU device with its queue, pipeline cache, buffer pool and pending command encoder.
/// Cheap to clone (an `Rc`); single-threaded, as wasm is.
#[derive(Clone)]
pub struct GpuDevice(Rc<DeviceInner>);

impl std::fmt::Debug for GpuDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GpuDevice({})", self.0.info)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl GpuDevice {
    /// Requests a high-performance adapter and a device with the limits these kernels need
    /// (wgpu's downlevel defaults: 256-thread workgroups, 4 storage buffers per stage, 16 KiB of
    /// workgroup memory) and buffer sizes raised to what the adapter allows, up to 1 GiB.
    /// Errors, for the UI: "no WebGPU adapter: …", "adapter limits too small: …",
    /// "device request failed: …".
    pub async fn new() -> Result<GpuDevice> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                ..Default::default()
            })
            .await
            .map_err(|e| Error(format!("no WebGPU adapter: {e}")))?;
        let have = adapter.limits();
        let need = wgpu::Limits::downlevel_defaults();
        let mut short = Vec::new();
        need.check_limits_with_fail_fn(&have, false, |name, want, got| {
            short.push(format!("{name} is {got}, need {want}"))
        });
        if !short.is_empty() {
            return Err(Error(format!("adapter limits too small: {}", short.join(", "))));
        }
        let max_buffer_size = have.max_buffer_size.min(MAX_BUFFER_REQUEST);
        let required = wgpu::Limits {
            max_buffer_size,
            max_storage_buffer_binding_size: have.max_storage_buffer_binding_size.min(max_buffer_size),
            ..need
        };
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("minnow"),
                required_limits: required.clone(),
                memory_hints: wgpu::MemoryHints::Performance,
                ..Default::default()
            })
            .await
            .map_err(|e| Error(format!("device request failed: {e}")))?;

        let lost = Arc::new(Mutex::new(None));
        let lost_slot = lost.clone();
        device.set_device_lost_callback(move |reason, message| {
            *lock(&lost_slot) = Some(format!("{reason:?}: {message}"));
        });
        let error = Arc::new(Mutex::new(None));
        let error_slot = error.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            let mut slot = lock(&error_slot);
            if slot.is_none() {
                *slot = Some(e.to_string());
            }
        }));

        // Browsers expose little beyond a description (often empty); Cpu marks a fallback adapter.
        let a = adapter.get_info();
        let name = if a.name.is_empty() { "unnamed adapter" } else { a.name.as_str() };
        let info = if a.driver_info.is_empty() {
            format!("{name} ({:?}, {:?})", a.backend, a.device_type)
        } else {
            format!("{name} ({:?}, {:?}, {})", a.backend, a.device_type, a.driver_info)
        };
        let software = a.device_type == wgpu::DeviceType::Cpu;
        let packed_dot4 = instance
            .wgsl_language_features()
            .contains(wgpu::WgslLanguageFeatures::Packed4x8IntegerDotProduct);
        Ok(GpuDevice(Rc::new(DeviceInner {
            device,
            queue,
            info,
            software,
            packed_dot4,
            limits: required,
            lost,
            error,
            modules: RefCell::new(HashMap::new()),
            kernels: RefCell::new(HashMap::new()),
            state: RefCell::new(State { encoder: None, free: HashMap::new(), parked: Vec::new() }),
            stats: Cell::new(GpuStats::default()),
        })))
    }

    /// Whether the adapter is a software rasterizer (lavapipe, SwiftShader): correct, but slower
    /// than minnow's own CPU backend, so `auto` does not pick it.
    pub fn is_software(&self) -> bool {
        self.0.software
    }

    /// Adapter name, backend, device type and driver, for display.
    pub fn adapter_info(&self) -> String {
        self.0.info.clone()
    }

    /// Submits all recorded work (no-op when nothing is pending). Never waits for the GPU.
    pub fn flush(&self) {
        self.submit();
    }

    /// Work counters: submits, readbacks, dispatches, buffers created.
    pub fn stats(&self) -> GpuStats {
        self.0.stats.get()
    }

    /// True once the device-lost callback has fired (driver reset, tab backgrounded for too long,
    /// `destroy`); every later primitive returns an error. Create a new device to continue.
    pub fn is_lost(&self) -> bool {
        lock(&self.0.lost).is_some()
    }

    /// Destroys the device now, releasing its GPU memory (e.g. when the UI switches back to the
    /// CPU); afterwards [`GpuDevice::is_lost`] is true and every primitive returns an error.
    pub fn destroy(&self) {
        self.0.device.destroy();
        let mut lost = lock(&self.0.lost);
        if lost.is_none() {
            *lost = Some("destroyed by the application".into());
        }
    }

    /// Drops every pooled buffer that no tensor holds (pool memory is otherwise kept for reuse).
    pub fn trim(&self) {
        self.0.state.borrow_mut().free.clear();
    }

    /// Errors out if the device is lost or has reported an error.
    fn check(&self) -> Result<()> {
        if let Some(reason) = lock(&self.0.lost).as_ref() {
            return Err(Error(format!("GPU device lost ({reason})")));
        }
        if let Some(e) = lock(&self.0.error).as_ref() {
            return Err(Error(format!("GPU error: {e}")));
        }
        Ok(())
    }

    fn bump(&self, f: impl FnOnce(&mut GpuStats)) {
        let mut s = self.0.stats.get();
        f(&mut s);
        self.0.stats.set(s);
    }

    /// Submits the pending encoder, if any, and frees the buffers parked behind it.
    fn submit(&self) {
        let mut st = self.0.state.borrow_mut();
        let Some(encoder) = st.encoder.take() else { return };
        self.0.queue.submit([encoder.finish()]);
        let parked = std::mem::take(&mut st.parked);
        for (kind, buf) in parked {
            st.free.entry((kind, buf.size())).or_default().push(buf);
        }
        drop(st);
        self.bump(|s| s.submits += 1);
        // Natively, let wgpu retire finished submissions without waiting (no-op on the web).
        #[cfg(not(target_arch = "wasm32"))]
        let _ = self.0.device.poll(wgpu::PollType::Poll);
    }

    /// Records into the pending encoder (created on first use).
    fn record<R>(&self, f: impl FnOnce(&mut wgpu::CommandEncoder) -> R) -> R {
        let mut st = self.0.state.borrow_mut();
        let encoder = st.encoder.get_or_insert_with(|| {
            self.0
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("minnow step") })
        });
        f(encoder)
    }

    /// Pool size class for `bytes`: at least 16; powers of two up to 4 KiB, then multiples of an
    /// eighth of the next power of two (at most 25% waste).
    fn size_class(bytes: u64) -> u64 {
        let b = bytes.max(16);
        if b <= 4096 {
            return b.next_power_of_two();
        }
        let step = b.next_power_of_two() / 8;
        b.div_ceil(step) * step
    }

    /// A buffer of at least `bytes` from the pool, or a new one.
    fn take(&self, kind: BufKind, bytes: u64) -> Result<wgpu::Buffer> {
        let size = Self::size_class(bytes);
        let limit = match kind {
            BufKind::Storage => self.0.limits.max_storage_buffer_binding_size,
            BufKind::Uniform => self.0.limits.max_uniform_buffer_binding_size,
        };
        if size > limit {
            return Err(Error(format!(
                "a GPU buffer of {bytes} bytes exceeds this device's limit of {limit} bytes"
            )));
        }
        if let Some(buf) = self.0.state.borrow_mut().free.get_mut(&(kind, size)).and_then(Vec::pop) {
            return Ok(buf);
        }
        self.bump(|s| s.buffers_created += 1);
        let usage = match kind {
            BufKind::Storage => {
                wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST
            }
            BufKind::Uniform => wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        };
        Ok(self.0.device.create_buffer(&wgpu::BufferDescriptor {
            label: None,
            size,
            usage,
            mapped_at_creation: false,
        }))
    }

    /// Returns a buffer to the pool: parked while an encoder is pending (it may reference it).
    /// Tolerates being called while the state is borrowed (the buffer is then simply dropped).
    fn release(&self, kind: BufKind, buf: wgpu::Buffer) {
        if let Ok(mut st) = self.0.state.try_borrow_mut() {
            if st.encoder.is_some() {
                st.parked.push((kind, buf));
            } else {
                st.free.entry((kind, buf.size())).or_default().push(buf);
            }
        }
    }

    /// An uninitialized storage of `len` f32 (every kernel writes all of its output).
    fn alloc(&self, len: usize) -> Result<GpuStorage> {
        self.check()?;
        let buf = self.take(BufKind::Storage, len as u64 * 4)?;
        Ok(GpuStorage(Rc::new(StorageInner { dev: self.clone(), buf: Some(buf), len })))
    }

    /// A temporary storage buffer holding `words` (index lists), released once recorded.
    fn temp_words(&self, words: &[u32]) -> Result<wgpu::Buffer> {
        let buf = self.take(BufKind::Storage, words.len() as u64 * 4)?;
        if !words.is_empty() {
            self.0.queue.write_buffer(&buf, 0, bytemuck::cast_slice(words));
        }
        Ok(buf)
    }

    /// Zero-fills the first `len` f32 of `buf` (recorded, in order with the kernels).
    fn clear(&self, buf: &wgpu::Buffer, len: usize) {
        if len > 0 {
            self.record(|e| e.clear_buffer(buf, 0, Some(len as u64 * 4)));
        }
    }

    fn module(&self, family: Family) -> Rc<wgpu::ShaderModule> {
        if let Some(m) = self.0.modules.borrow().get(&family) {
            return m.clone();
        }
        let module = Rc::new(self.0.device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(family.name()),
            source: wgpu::ShaderSource::Wgsl(family.source().into()),
        }));
        self.0.modules.borrow_mut().insert(family, module.clone());
        module
    }

    /// The cached pipeline of `entry` in `family`, specialised with override `constants`.
    fn kernel(&self, family: Family, entry: &str, constants: &[(&str, f64)]) -> Rc<Kernel> {
        let mut key = format!("{}::{entry}", family.name());
        for (name, value) in constants {
            key.push_str(&format!(" {name}={value}"));
        }
        if let Some(k) = self.0.kernels.borrow().get(&key) {
            return k.clone();
        }
        let module = self.module(family);
        let pipeline = self.0.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(entry),
            layout: None,
            module: &module,
            entry_point: Some(entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants,
                // Every kernel writes its workgroup memory before reading it.
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        });
        let layout = pipeline.get_bind_group_layout(0);
        let kernel = Rc::new(Kernel { pipeline, layout });
        self.0.kernels.borrow_mut().insert(key, kernel.clone());
        kernel
    }

    /// Records one dispatch of `entry`: `params` goes to binding 0 (a fresh pooled uniform
    /// buffer, so earlier dispatches in the same encoder keep theirs), `binds` are the storage
    /// buffers by binding number, exactly the ones the entry point uses.
    fn dispatch<P: bytemuck::Pod>(
        &self,
        family: Family,
        entry: &str,
        constants: &[(&str, f64)],
        params: &P,
        binds: &[(u32, &wgpu::Buffer)],
        groups: [u32; 3],
    ) -> Result<()> {
        self.check()?;
        if groups.contains(&0) {
            return Ok(());
        }
        let kernel = self.kernel(family, entry, constants);
        let bytes = bytemuck::bytes_of(params);
        let ubuf = self.take(BufKind::Uniform, PARAMS_BYTES)?;
        self.0.queue.write_buffer(&ubuf, 0, bytes);
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                buffer: &ubuf,
                offset: 0,
                size: wgpu::BufferSize::new(bytes.len() as u64),
            }),
        }];
        entries.extend(
            binds
                .iter()
                .map(|&(binding, buf)| wgpu::BindGroupEntry { binding, resource: buf.as_entire_binding() }),
        );
        let bind_group = self.0.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &kernel.layout,
            entries: &entries,
        });
        self.record(|e| {
            let mut pass =
                e.begin_compute_pass(&wgpu::ComputePassDescriptor { label: None, timestamp_writes: None });
            pass.set_pipeline(&kernel.pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
        });
        self.release(BufKind::Uniform, ubuf);
        self.bump(|s| s.dispatches += 1);
        Ok(())
    }
}

/// Workgroup grid for `items` workgroups, folded into 2-D when it exceeds 65535
/// (shaders recover the flat index as `x + y · num_workgroups.x`).
fn grid(items: usize) -> Result<[u32; 3]> {
    if items == 0 {
        return Ok([0, 1, 1]);
    }
    let x = items.min(MAX_GROUPS as usize);
    let y = items.div_ceil(x);
    if y > MAX_GROUPS as usize {
        return Err(Error(format!("{items} workgroups exceed the 65535 × 65535 dispatch grid")));
    }
    Ok([x as u32, y as u32, 1])
}

/// Grid for a one-thread-per-element kernel over `n` elements.
fn grid_1d(n: usize) -> Result<[u32; 3]> {
    grid(n.div_ceil(WG as usize))
}

/// Element counts and offsets travel as u32 in the shaders.
fn u32_of(what: &str, v: usize) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error(format!("{what} = {v} does not fit the GPU's 32-bit indexing")))
}

/// Copies up to `N` values into a fixed lane array of a `Params` block (u32-checked; the rest 0).
fn lanes<const N: usize>(what: &str, v: &[usize]) -> Result<[u32; N]> {
    if v.len() > N {
        return Err(Error(format!("{what}: {} values do not fit {N} lanes", v.len())));
    }
    let mut out = [0u32; N];
    for (o, &x) in out.iter_mut().zip(v) {
        *o = u32_of(what, x)?;
    }
    Ok(out)
}

struct StorageInner {
    dev: GpuDevice,
    /// Always `Some` until dropped.
    buf: Option<wgpu::Buffer>,
    len: usize,
}

impl Drop for StorageInner {
    fn drop(&mut self) {
        if let Some(buf) = self.buf.take() {
            self.dev.release(BufKind::Storage, buf);
        }
    }
}

/// A flat f32 buffer on a [`GpuDevice`]. Clones share the buffer (in-place optimizer steps and
/// `write` are seen by every clone); it returns to the device's pool when the last clone drops.
#[derive(Clone)]
pub struct GpuStorage(Rc<StorageInner>);

impl std::fmt::Debug for GpuStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "GpuStorage({} f32)", self.0.len)
    }
}

impl GpuStorage {
    fn buf(&self) -> &wgpu::Buffer {
        // Invariant: `buf` is only taken in `Drop`.
        self.0.buf.as_ref().expect("GpuStorage buffer present until drop")
    }

    fn dev(&self) -> &GpuDevice {
        &self.0.dev
    }

    fn same_device(&self, other: &GpuStorage) -> Result<()> {
        if Rc::ptr_eq(&self.0.dev.0, &other.0.dev.0) {
            Ok(())
        } else {
            Err(Error::new("operands live on different GPU devices"))
        }
    }

    /// Submits the pending work plus a copy to a mappable buffer, and maps it (async on the web;
    /// natively the device is polled until the copy is done). `T` is how the 4-byte words are read
    /// (f32 for tensors, i32 or u32 for the int8 kernels' integer buffers).
    async fn read_impl<T: bytemuck::Pod>(&self) -> Result<Vec<T>> {
        let dev = self.dev().clone();
        dev.check()?;
        let bytes = self.0.len as u64 * 4;
        if bytes == 0 {
            dev.submit();
            return Ok(Vec::new());
        }
        let staging = dev.0.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("minnow readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        dev.record(|e| e.copy_buffer_to_buffer(self.buf(), 0, &staging, 0, bytes));
        dev.submit();
        dev.bump(|s| s.readbacks += 1);
        let slot = Arc::new(Mutex::new(MapSlot::default()));
        let callback_slot = slot.clone();
        staging.slice(..).map_async(wgpu::MapMode::Read, move |result| {
            let mut s = lock(&callback_slot);
            s.result = Some(result);
            if let Some(w) = s.waker.take() {
                w.wake();
            }
        });
        #[cfg(not(target_arch = "wasm32"))]
        dev.0
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error(format!("GPU poll failed: {e}")))?;
        MapFuture(slot).await.map_err(|e| Error(format!("GPU readback failed: {e}")))?;
        let data = {
            let view = staging
                .slice(..)
                .get_mapped_range()
                .map_err(|e| Error(format!("GPU readback failed: {e}")))?;
            bytemuck::pod_collect_to_vec::<u8, T>(&view)
        };
        staging.unmap();
        dev.check()?;
        Ok(data)
    }
}

#[derive(Default)]
struct MapSlot {
    result: Option<std::result::Result<(), wgpu::BufferAsyncError>>,
    waker: Option<Waker>,
}

/// Resolves when `map_async`'s callback has run (from the browser's event loop, or natively
/// from `device.poll`).
struct MapFuture(Arc<Mutex<MapSlot>>);

impl Future for MapFuture {
    type Output = std::result::Result<(), wgpu::BufferAsyncError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut s = lock(&self.0);
        match s.result.take() {
            Some(r) => Poll::Ready(r),
            None => {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

// Compile-time check that the storage implements the whole contract.
const _: fn() = || {
    fn is_backend<T: BackendStorage<Device = GpuDevice>>() {}
    is_backend::<GpuStorage>();
};
