"""The sample catalogue (installed as `tagstream.sample`): the demo streams it and trains its model on
it when the Triton repository is empty. See README.md in this folder."""
