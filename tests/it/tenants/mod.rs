mod cli;
mod control_plane;
mod store;
