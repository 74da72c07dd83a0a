//! `Tensor`: a shaped handle to backend storage plus the reverse-mode autograd graph. Each op (in
//! src/ops.rs) computes its output with backend primitives and records one closure that maps the
//! output gradient to its inputs' gradients; [`Tensor::backward`] walks the graph in reverse
//! topological order and accumulates. Single-threaded by design (`Rc`), as wasm is.

use crate::core::backend::{BinaryOp, Device, Storage};
use crate::core::ops::Op;
use crate::{Result, bail};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeSet, HashMap};
use std::rc::Rc;

/// Largest rank a tensor may have (defined with the other shape rules in `core::shape`).
pub use crate::core::shape::MAX_RANK;

thread_local! {
    static GRAD_ENABLED: Cell<bool> = const { Cell::new(true) };
    static NEXT_ID: Cell<usize> = const { Cell::new(0) };
    /// Names of the ops whose backward ran, while [`ops_differentiated`] is collecting.
    static DIFFERENTIATED: RefCell<Option<BTreeSet<&'static str>>> = const { RefCell::new(None) };
}

/// Maps the gradient of an op's output to the gradients of its inputs (None: no gradient flows).
pub type BackwardFn = Box<dyn Fn(&Storage) -> Result<Vec<Option<Storage>>>>;

struct GradFn {
    name: &'static str,
    inputs: Vec<Tensor>,
    backward: BackwardFn,
}

struct Inner {
    id: usize,
    shape: Vec<usize>,
    data: RefCell<Storage>,
    grad: RefCell<Option<Storage>>,
    requires_grad: Cell<bool>,
    grad_fn: Option<GradFn>,
}

/// An n-dimensional (rank ≤ `MAX_RANK`) f32 tensor. Cloning clones the handle, not the data.
#[derive(Clone)]
pub struct Tensor(Rc<Inner>);

impl std::fmt::Debug for Tensor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tensor{:?} on {}", self.0.shape, self.device().name())?;
        if let Some(g) = &self.0.grad_fn {
            write!(f, " ({})", g.name)?;
        }
        Ok(())
    }
}

/// Runs `f` and returns, with its result, the names of the ops whose backward ran during it (every
/// [`Op`] a backward pass walked through). The coverage tests run their cases under this, so the ops
/// they cover are the ops actually differentiated, not a list kept by hand. Nests.
pub fn ops_differentiated<T>(f: impl FnOnce() -> T) -> (T, BTreeSet<&'static str>) {
    let outer = DIFFERENTIATED.with(|d| d.borrow_mut().replace(BTreeSet::new()));
    let out = f();
    let seen = DIFFERENTIATED.with(|d| {
        let mut slot = d.borrow_mut();
        let seen = slot.take().unwrap_or_default();
        *slot = outer.map(|mut o| {
            o.extend(seen.iter().copied());
            o
        });
        seen
    });
    (out, seen)
}

/// True unless inside [`no_grad`].
pub fn grad_enabled() -> bool {
    GRAD_ENABLED.with(|g| g.get())
}

/// Runs `f` without recording the graph (evaluation, optimizer updates, running statistics).
pub fn no_grad<T>(f: impl FnOnce() -> T) -> T {
    let _guard = NoGradGuard::new();
    f()
}

/// Disables graph recording until dropped.
pub struct NoGradGuard(bool);

impl NoGradGuard {
    pub fn new() -> Self {
        NoGradGuard(GRAD_ENABLED.with(|g| g.replace(false)))
    }
}

impl Default for NoGradGuard {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for NoGradGuard {
    fn drop(&mut self) {
        GRAD_ENABLED.with(|g| g.set(self.0));
    }
}

fn next_id() -> usize {
    NEXT_ID.with(|c| {
        let v = c.get();
        c.set(v + 1);
        v
    })
}

/// `[2, 3]` as text, for error messages.
pub fn fmt_shape(shape: &[usize]) -> String {
    format!("{shape:?}")
}

fn check_shape(shape: &[usize]) -> Result<()> {
    if shape.len() > MAX_RANK {
        bail!("shape {}: rank {} exceeds the maximum rank {MAX_RANK}", fmt_shape(shape), shape.len());
    }
    Ok(())
}

impl Tensor {
    fn make(storage: Storage, shape: Vec<usize>, requires_grad: bool, grad_fn: Option<GradFn>) -> Tensor {
        Tensor(Rc::new(Inner {
            id: next_id(),
            shape,
            data: RefCell::new(storage),
            grad: RefCell::new(None),
            requires_grad: Cell::new(requires_grad),
            grad_fn,
        }))
    }

    /// Wraps storage of `shape.iter().product()` elements (no gradient).
    pub fn from_storage(storage: Storage, shape: &[usize]) -> Result<Tensor> {
        check_shape(shape)?;
        let n: usize = shape.iter().product();
        if storage.len() != n {
            bail!("shape {} needs {n} elements, storage has {}", fmt_shape(shape), storage.len());
        }
        Ok(Self::make(storage, shape.to_vec(), false, None))
    }

    /// Uploads host data with the given shape to `device`.
    pub fn new(data: &[f32], shape: &[usize], device: &Device) -> Result<Tensor> {
        check_shape(shape)?;
        let n: usize = shape.iter().product();
        if data.len() != n {
            bail!("shape {} needs {n} elements, got {}", fmt_shape(shape), data.len());
        }
        Self::from_storage(device.upload(data)?, shape)
    }

    /// A tensor filled with `value`.
    pub fn full(shape: &[usize], value: f32, device: &Device) -> Result<Tensor> {
        check_shape(shape)?;
        Self::from_storage(device.full(shape.iter().product(), value)?, shape)
    }

    pub fn zeros(shape: &[usize], device: &Device) -> Result<Tensor> {
        Self::full(shape, 0.0, device)
    }

    /// A trainable leaf (`requires_grad = true`).
    pub fn param(data: &[f32], shape: &[usize], device: &Device) -> Result<Tensor> {
        let t = Self::new(data, shape, device)?;
        t.0.requires_grad.set(true);
        Ok(t)
    }

    /// Records the output of an op. The graph edge is kept only when gradients are enabled and
    /// some input requires a gradient.
    pub(crate) fn from_op(
        storage: Storage,
        shape: Vec<usize>,
        op: Op,
        inputs: &[&Tensor],
        backward: impl Fn(&Storage) -> Result<Vec<Option<Storage>>> + 'static,
    ) -> Result<Tensor> {
        check_shape(&shape)?;
        let needs = grad_enabled() && inputs.iter().any(|t| t.requires_grad());
        let grad_fn = needs.then(|| GradFn {
            name: op.name(),
            inputs: inputs.iter().map(|&t| t.clone()).collect(),
            backward: Box::new(backward),
        });
        Ok(Self::make(storage, shape, needs, grad_fn))
    }

    pub fn shape(&self) -> &[usize] {
        &self.0.shape
    }

    pub fn rank(&self) -> usize {
        self.0.shape.len()
    }

    pub fn numel(&self) -> usize {
        self.0.shape.iter().product()
    }

    /// Size of axis `i`; negative counts from the end.
    pub fn dim(&self, i: isize) -> Result<usize> {
        Ok(self.0.shape[self.axis(i)?])
    }

    /// Resolves a possibly negative axis.
    pub fn axis(&self, i: isize) -> Result<usize> {
        let r = self.rank() as isize;
        let a = if i < 0 { i + r } else { i };
        if a < 0 || a >= r {
            bail!("axis {i} out of range for shape {}", fmt_shape(self.shape()));
        }
        Ok(a as usize)
    }

    /// Handle to the current data.
    pub fn storage(&self) -> Storage {
        self.0.data.borrow().clone()
    }

    pub fn device(&self) -> Device {
        self.0.data.borrow().device()
    }

    /// A stable id for this node (used for optimizer state and graph walks).
    pub fn id(&self) -> usize {
        self.0.id
    }

    pub fn requires_grad(&self) -> bool {
        self.0.requires_grad.get()
    }

    /// Marks a leaf as trainable (or not). Refused on non-leaf tensors.
    pub fn set_requires_grad(&self, on: bool) -> Result<()> {
        if self.0.grad_fn.is_some() {
            bail!("requires_grad can only be changed on leaf tensors");
        }
        self.0.requires_grad.set(on);
        Ok(())
    }

    pub fn is_leaf(&self) -> bool {
        self.0.grad_fn.is_none()
    }

    /// Name of the op that produced this tensor, if it is recorded.
    pub fn op_name(&self) -> Option<&'static str> {
        self.0.grad_fn.as_ref().map(|g| g.name)
    }

    /// The accumulated gradient of a leaf, as a tensor without a graph.
    pub fn grad(&self) -> Option<Tensor> {
        self.0.grad.borrow().as_ref().map(|g| Self::make(g.clone(), self.0.shape.clone(), false, None))
    }

    /// The accumulated gradient's storage.
    pub fn grad_storage(&self) -> Option<Storage> {
        self.0.grad.borrow().clone()
    }

    /// Replaces the accumulated gradient (used by masks that zero pruned weights' gradients).
    pub fn set_grad(&self, g: Option<Storage>) {
        *self.0.grad.borrow_mut() = g;
    }

    pub fn zero_grad(&self) {
        *self.0.grad.borrow_mut() = None;
    }

    /// Replaces this leaf's data (loading weights, rewinding). Lengths must match.
    pub fn set_storage(&self, s: Storage) -> Result<()> {
        if s.len() != self.numel() {
            bail!("cannot set {} elements into a tensor of shape {}", s.len(), fmt_shape(self.shape()));
        }
        *self.0.data.borrow_mut() = s;
        Ok(())
    }

    /// Same data, no graph, no gradient.
    pub fn detach(&self) -> Tensor {
        Self::make(self.storage(), self.0.shape.clone(), false, None)
    }

    /// Reads the data to the host (async: the only device → host path).
    pub async fn to_vec(&self) -> Result<Vec<f32>> {
        self.storage().read().await
    }

    /// Blocking read, for native code and tests.
    pub fn to_vec_blocking(&self) -> Result<Vec<f32>> {
        pollster::block_on(self.to_vec())
    }

    /// Backpropagates from a scalar (one-element) tensor with seed gradient 1.
    pub fn backward(&self) -> Result<()> {
        if self.numel() != 1 {
            bail!("backward() needs a scalar, got shape {}; use backward_with", fmt_shape(self.shape()));
        }
        self.backward_with(self.device().full(1, 1.0)?)
    }

    /// Backpropagates with an explicit output gradient; leaf gradients accumulate (`+=`).
    pub fn backward_with(&self, seed: Storage) -> Result<()> {
        if !self.requires_grad() {
            bail!("backward() on a tensor that does not require grad");
        }
        if seed.len() != self.numel() {
            bail!("backward seed has {} elements, tensor has shape {}", seed.len(), fmt_shape(self.shape()));
        }
        // Post-order DFS without recursion (deep graphs must not overflow the wasm stack).
        let mut order: Vec<Tensor> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        let mut stack: Vec<(Tensor, bool)> = vec![(self.clone(), false)];
        while let Some((t, expanded)) = stack.pop() {
            if expanded {
                order.push(t);
                continue;
            }
            if !seen.insert(t.id()) {
                continue;
            }
            stack.push((t.clone(), true));
            if let Some(g) = &t.0.grad_fn {
                for i in &g.inputs {
                    if i.requires_grad() && !seen.contains(&i.id()) {
                        stack.push((i.clone(), false));
                    }
                }
            }
        }
        let mut grads: HashMap<usize, Storage> = HashMap::new();
        grads.insert(self.id(), seed);
        let _ng = NoGradGuard::new();
        for t in order.iter().rev() {
            let Some(g) = grads.remove(&t.id()) else { continue };
            match &t.0.grad_fn {
                None => {
                    if t.requires_grad() {
                        let mut slot = t.0.grad.borrow_mut();
                        *slot = Some(match slot.take() {
                            Some(prev) => accumulate(&prev, &g, t.shape())?,
                            None => g,
                        });
                    }
                }
                Some(f) => {
                    DIFFERENTIATED.with(|d| d.borrow_mut().as_mut().map(|s| s.insert(f.name)));
                    let input_grads = (f.backward)(&g)?;
                    for (inp, ig) in f.inputs.iter().zip(input_grads) {
                        let Some(ig) = ig else { continue };
                        if !inp.requires_grad() {
                            continue;
                        }
                        if ig.len() != inp.numel() {
                            bail!(
                                "internal: {} produced a gradient of {} elements for an input of shape {}",
                                f.name,
                                ig.len(),
                                fmt_shape(inp.shape())
                            );
                        }
                        let merged = match grads.remove(&inp.id()) {
                            Some(prev) => accumulate(&prev, &ig, inp.shape())?,
                            None => ig,
                        };
                        grads.insert(inp.id(), merged);
                    }
                }
            }
        }
        Ok(())
    }
}

fn accumulate(a: &Storage, b: &Storage, shape: &[usize]) -> Result<Storage> {
    a.binary(BinaryOp::Add, shape, b, shape, shape)
}
