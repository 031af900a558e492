mod admin;
mod backpressure;
mod crash;
mod otel;
mod store;
