"""The app database: SQLAlchemy 2.0 typed models, the engine and sessions. Used by activities
and the service layer only; workflows never import it."""
