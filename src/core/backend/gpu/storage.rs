//! `BackendStorage` for [`GpuStorage`]: the memory primitives (upload, write, copy, read) here, every
//! kernel primitive delegated to its family's file. Nothing here waits on the GPU except `read`.

use super::{
    BufKind, GpuDevice, GpuStorage, conv, elementwise, layout, matmul, optim, quant, random, reduce,
};
use crate::Result;
use crate::core::backend::{
    AdamHyper, BackendStorage, BinaryOp, ChannelQuant, Conv2dGeom, MatmulDims, ReduceOp, SgdHyper, UnaryOp,
};
use crate::core::shape::check_len;
use std::rc::Rc;

impl BackendStorage for GpuStorage {
    type Device = GpuDevice;

    fn device(&self) -> GpuDevice {
        self.0.dev.clone()
    }

    fn len(&self) -> usize {
        self.0.len
    }

    fn upload(dev: &GpuDevice, data: &[f32]) -> Result<Self> {
        let out = dev.alloc(data.len())?;
        if !data.is_empty() {
            dev.0.queue.write_buffer(out.buf(), 0, bytemuck::cast_slice(data));
        }
        Ok(out)
    }

    fn full(dev: &GpuDevice, n: usize, value: f32) -> Result<Self> {
        elementwise::full(dev, n, value)
    }

    fn write(&self, data: &[f32]) -> Result<()> {
        check_len("write", data.len(), self.len())?;
        let dev = self.dev();
        dev.check()?;
        if data.is_empty() {
            return Ok(());
        }
        let pending = dev.0.state.borrow().encoder.is_some();
        if !pending {
            dev.0.queue.write_buffer(self.buf(), 0, bytemuck::cast_slice(data));
            return Ok(());
        }
        // Recorded commands may still read the old contents: stage the data and copy it in order.
        let bytes = data.len() as u64 * 4;
        let staging = dev.take(BufKind::Storage, bytes)?;
        dev.0.queue.write_buffer(&staging, 0, bytemuck::cast_slice(data));
        dev.record(|e| e.copy_buffer_to_buffer(&staging, 0, self.buf(), 0, bytes));
        dev.release(BufKind::Storage, staging);
        Ok(())
    }

    fn copy_from(&self, src: &Self) -> Result<()> {
        self.same_device(src)?;
        check_len("copy_from", src.len(), self.len())?;
        self.dev().check()?;
        if Rc::ptr_eq(&self.0, &src.0) || self.is_empty() {
            return Ok(());
        }
        let bytes = self.len() as u64 * 4;
        self.dev().record(|e| e.copy_buffer_to_buffer(src.buf(), 0, self.buf(), 0, bytes));
        Ok(())
    }

    async fn read(&self) -> Result<Vec<f32>> {
        self.read_impl::<f32>().await
    }

    fn unary(&self, op: UnaryOp) -> Result<Self> {
        elementwise::unary(self, op)
    }

    fn unary_backward(&self, op: UnaryOp, y: &Self, dy: &Self) -> Result<Self> {
        elementwise::unary_backward(self, op, y, dy)
    }

    fn binary(
        &self,
        op: BinaryOp,
        a_shape: &[usize],
        rhs: &Self,
        b_shape: &[usize],
        out_shape: &[usize],
    ) -> Result<Self> {
        elementwise::binary(self, op, a_shape, rhs, b_shape, out_shape)
    }

    fn reduce(&self, op: ReduceOp, shape: &[usize], out_shape: &[usize]) -> Result<Self> {
        reduce::reduce(self, op, shape, out_shape)
    }

    fn max_backward(&self, shape: &[usize], out_shape: &[usize], dy: &Self) -> Result<Self> {
        reduce::max_backward(self, shape, out_shape, dy)
    }

    fn matmul(&self, rhs: &Self, d: MatmulDims) -> Result<Self> {
        matmul::matmul(self, rhs, d)
    }

    fn permute(&self, shape: &[usize], perm: &[usize]) -> Result<Self> {
        layout::permute(self, shape, perm)
    }

    fn narrow(&self, shape: &[usize], axis: usize, start: usize, len: usize) -> Result<Self> {
        layout::narrow(self, shape, axis, start, len)
    }

    fn narrow_backward(&self, full: &[usize], axis: usize, start: usize) -> Result<Self> {
        layout::narrow_backward(self, full, axis, start)
    }

    fn index_select(&self, shape: &[usize], indices: &[u32]) -> Result<Self> {
        layout::index_select(self, shape, indices)
    }

    fn index_select_backward(&self, full: &[usize], indices: &[u32]) -> Result<Self> {
        layout::index_select_backward(self, full, indices)
    }

    fn softmax(&self, rows: usize, cols: usize, log: bool) -> Result<Self> {
        reduce::softmax(self, rows, cols, log)
    }

    fn softmax_backward(&self, dy: &Self, rows: usize, cols: usize, log: bool) -> Result<Self> {
        reduce::softmax_backward(self, dy, rows, cols, log)
    }

    fn argmax(&self, rows: usize, cols: usize) -> Result<Self> {
        reduce::argmax(self, rows, cols)
    }

    /// Unlike the CPU, labels are not validated (that would need a readback): a label that is not
    /// a class index gives a row of `off`.
    fn one_hot(&self, classes: usize, on: f32, off: f32) -> Result<Self> {
        reduce::one_hot(self, classes, on, off)
    }

    fn im2col(&self, g: Conv2dGeom) -> Result<Self> {
        conv::im2col(self, g)
    }

    fn col2im(&self, g: Conv2dGeom) -> Result<Self> {
        conv::col2im(self, g)
    }

    fn max_pool2d(&self, g: Conv2dGeom) -> Result<(Self, Self)> {
        conv::max_pool2d(self, g)
    }

    fn max_pool2d_backward(&self, argmax: &Self, g: Conv2dGeom) -> Result<Self> {
        conv::max_pool2d_backward(self, argmax, g)
    }

    fn avg_pool2d(&self, g: Conv2dGeom) -> Result<Self> {
        conv::avg_pool2d(self, g)
    }

    fn avg_pool2d_backward(&self, g: Conv2dGeom) -> Result<Self> {
        conv::avg_pool2d_backward(self, g)
    }

    fn dropout_mask(dev: &GpuDevice, n: usize, p: f32, seed: u32, offset: u32) -> Result<Self> {
        random::dropout_mask(dev, n, p, seed, offset)
    }

    fn sgd_step(&self, grad: &Self, buf: &Self, h: SgdHyper) -> Result<()> {
        optim::sgd_step(self, grad, buf, h)
    }

    fn adam_step(&self, grad: &Self, m: &Self, v: &Self, h: AdamHyper) -> Result<()> {
        optim::adam_step(self, grad, m, v, h)
    }

    fn fake_quant_channel(&self, qp: &Self, q: ChannelQuant) -> Result<Self> {
        quant::fake_quant_channel(self, qp, q)
    }

    fn fake_quant_channel_backward(&self, qp: &Self, dy: &Self, q: ChannelQuant) -> Result<Self> {
        quant::fake_quant_channel_backward(self, qp, dy, q)
    }
}
